"""A `dvc repro` killed in a train stage and started again resumes that stage from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from pipeline.tracking.tags import TAG_RESUMED_FROM, TAG_ROLE
from tests.helpers.project_copy import copy_project
from tests.helpers.synthetic import write_synthetic_mnist

# Slow tier: a dvc repro killed in a train stage, then resumed.
pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent
# Slow enough per epoch (batches of 4, one step per call) to kill the stage between epochs.
PRESET = """# @package _global_
data:
  mirrors: ['{mirror}']
  files:
    train_images: {{md5: {train_images}}}
    train_labels: {{md5: {train_labels}}}
    test_images: {{md5: {test_images}}}
    test_labels: {{md5: {test_labels}}}
model:
  hidden_units: [16]
train:
  epochs: 4
  batch_size: 4
  steps_per_execution: 1
eval:
  mc_samples: 0
tracking:
  log_model: false
sweep:
  rates: [0.5]
  seeds: [7]
"""


def _env(repo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DROPOUT_LAB_", "MLFLOW_"))}
    return {**env, "PATH": f"{VENV_BIN}{os.pathsep}{env['PATH']}", "MLFLOW_TRACKING_URI": _uri(repo)}


def _uri(repo: Path) -> str:
    return f"sqlite:///{repo / 'mlflow.db'}"


def _make_repo(base: Path) -> Path:
    mirror = base / "mirror"
    md5s = write_synthetic_mnist(mirror, n_train=1000, n_test=60, seed=0)
    repo = base / "repo"
    copy_project(repo)
    (repo / "conf" / "experiment" / "slow.yaml").write_text(PRESET.format(mirror=mirror, **md5s))
    config = repo / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("  - experiment: null", "  - experiment: slow"))
    for command in (
        [sys.executable, "-m", "pipeline.core.params"],
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"],
    ):
        subprocess.run(command, cwd=repo, env=_env(repo), check=True, capture_output=True)
    return repo


def test_a_killed_dvc_repro_resumes_its_train_stage(tmp_path: Path):
    repo = _make_repo(tmp_path)
    dvc = subprocess.Popen(
        [str(VENV_BIN / "dvc"), "repro", "train@0.5-7"], cwd=repo, env=_env(repo), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    killed_run = None
    deadline = time.monotonic() + 600
    while killed_run is None and time.monotonic() < deadline:
        for manifest in (repo / "checkpoints").glob("*/latest.json"):
            meta = json.loads(manifest.read_text())
            if meta["epoch"] >= 2:
                killed_run = meta["run_id"]
        assert dvc.poll() is None, dvc.communicate()[0][-3000:]
        time.sleep(0.02)
    os.killpg(dvc.pid, signal.SIGKILL)  # dvc and its stage, as a crash or the OOM killer would
    dvc.communicate(timeout=60)
    assert killed_run is not None

    again = subprocess.run(
        [str(VENV_BIN / "dvc"), "repro", "train@0.5-7"], cwd=repo, env=_env(repo), text=True,
        capture_output=True, timeout=900,
    )  # fmt: skip
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert "resuming after epoch" in again.stdout + again.stderr

    client = MlflowClient(tracking_uri=_uri(repo))
    trainings = [
        r for r in client.search_runs([client.get_experiment_by_name("dropout-lab").experiment_id])
        if r.data.tags.get(TAG_ROLE) == "train"
    ]  # fmt: skip
    by_id = {r.info.run_id: r for r in trainings}
    assert by_id[killed_run].info.status == "FAILED"  # reconciled: its process is gone
    (resumed,) = [r for r in trainings if r.info.run_id != killed_run]
    assert resumed.info.status == "FINISHED"
    assert resumed.data.tags[TAG_RESUMED_FROM] == killed_run
    steps = [m.step for m in client.get_metric_history(resumed.info.run_id, "val_accuracy")]
    assert sorted(steps) == [1, 2, 3, 4]
    assert json.loads((repo / "metrics" / "train" / "rate_0.5_seed_7.json").read_text())["epochs"] == 4
    assert not list((repo / "checkpoints").glob("*/latest.json"))  # done: no checkpoint kept
