"""`make run`'s `python -m pipeline.tools.repro` in a real git repo with real DVC: the trainings of the
rates run side by side, and the result is what a plain `dvc repro` makes, byte for byte, with the
trainings grouped under one MLflow parent as one `dvc repro` groups them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from commands import run_to_files
from project_copy import copy_project
from synthetic import write_synthetic_mnist

pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{repo / 'mlflow.db'}"
    for key in ("DROPOUT_LAB_ROOT", "DROPOUT_LAB_DATA_MIRROR", "MLFLOW_RUN_ID", "DROPOUT_LAB_DVC_INVOCATION"):
        env.pop(key, None)
    done = run_to_files(args, repo, env)
    assert done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project on tiny synthetic data, with three rates so that two trainings overlap."""
    base = tmp_path_factory.mktemp("parallel")
    md5s = write_synthetic_mnist(base / "mirror", n_train=300, n_test=60, seed=0)
    repo = copy_project(base / "repo")
    config_file = repo / "conf" / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["data"] = {**config.get("data", {}), "mirrors": [str(base / "mirror")],
                      "files": {k: {"md5": v} for k, v in md5s.items()}}  # fmt: skip
    config |= {"model": {"hidden_units": [16]}, "train": {"epochs": 2}, "eval": {"mc_samples": 3},
               "tracking": {"log_model": False}, "sweep": {"rates": [0.0, 0.2, 0.5]}}  # fmt: skip
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    _run(repo, sys.executable, "-m", "pipeline.core.params")
    for command in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"],
    ):
        _run(repo, "git", *command)
    return repo


def test_make_runs_repro_trains_side_by_side_and_equals_a_plain_dvc_repro(repo: Path):
    from mlflow import MlflowClient

    from pipeline.tracking.tags import TAG_ROLE, TAG_SOURCE

    done = _run(repo, sys.executable, "-m", "pipeline.tools.repro")
    assert "[train@0.2]" in done.stdout and "[evaluate@0.5]" in done.stdout
    assert "Data and pipelines are up to date" in _run(repo, str(VENV_BIN / "dvc"), "status").stdout
    lock = (repo / "dvc.lock").read_bytes()
    outputs = {p: p.read_bytes() for p in sorted((repo / "metrics").rglob("*.json"))}

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("dropout-lab").experiment_id])
    groups = [
        r for r in runs if r.data.tags.get(TAG_ROLE) == "sweep" and r.data.tags.get(TAG_SOURCE) == "dvc"
    ]
    assert len(groups) == 1, "one invocation, one parent run"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == groups[0].info.run_id]
    assert sorted(r.data.params["model.dropout.rate"] for r in children) == ["0.0", "0.2", "0.5"]
    assert {r.info.status for r in [groups[0], *children]} == {"FINISHED"}
    spans = sorted((r.info.start_time, r.info.end_time) for r in children)
    assert spans[1][0] < spans[0][1], f"the trainings ran one after another: {spans}"

    _run(repo, str(VENV_BIN / "dvc"), "repro", "--force")  # DVC's own, one stage at a time
    assert (repo / "dvc.lock").read_bytes() == lock
    assert {p: p.read_bytes() for p in sorted((repo / "metrics").rglob("*.json"))} == outputs
