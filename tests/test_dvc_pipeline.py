"""The whole DVC pipeline in a real git repo: a temporary copy of this one, on synthetic data
served as a local mirror, with a tiny net. `dvc repro`, `dvc exp run -S`, `dvc metrics show`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from synthetic import write_synthetic_mnist

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DVC = str(VENV_BIN / "dvc")

# A preset the copy's conf/ gets, so DVC's own Hydra composition (`dvc exp run -S`) keeps it.
TINY_PRESET = """# @package _global_
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
  epochs: 2
eval:
  mc_samples: 3
tracking:
  log_model: false
sweep:
  rates: [0.0, 0.5]
"""


def _run(repo: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{repo / 'mlflow.db'}"
    for key in ("DROPOUT_LAB_ROOT", "DROPOUT_LAB_DATA_MIRROR", "MLFLOW_RUN_ID"):
        env.pop(key, None)
    done = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    if ok:
        assert done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repo holding this project's files (committed or not, minus ignored ones) + the preset."""
    base = tmp_path_factory.mktemp("dvc")
    mirror = base / "mirror"
    md5s = write_synthetic_mnist(mirror, n_train=300, n_test=60, seed=0)
    repo = base / "repo"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in listed:
        if (ROOT / name).is_file() and not name.startswith(("bench/", "tests/")):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    (repo / "conf" / "experiment" / "tiny.yaml").write_text(TINY_PRESET.format(mirror=mirror, **md5s))
    config = repo / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("  - experiment: null", "  - experiment: tiny"))
    _run(repo, sys.executable, "-m", "pipeline.params")
    _run(repo, "git", "init", "-q")
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy")
    return repo


@pytest.fixture(scope="module")
def reproduced(repo: Path) -> Path:
    """The copy after one whole `dvc repro`."""
    _run(repo, DVC, "repro")
    return repo


def test_repro_runs_every_stage_then_has_nothing_to_do(reproduced: Path):
    repo = reproduced
    for rate in ("0.0", "0.5"):
        assert (repo / "models" / f"rate_{rate}" / "model.keras").is_file()
        evaluation = json.loads((repo / "metrics" / "eval" / f"rate_{rate}.json").read_text())
        assert 0.0 <= evaluation["test_accuracy"] <= 1.0
    report = (repo / "reports" / "comparison.md").read_text()
    assert "| 0 | 1 |" in report and "| 0.5 | 1 |" in report

    second = _run(repo, DVC, "repro")
    assert "Data and pipelines are up to date" in second.stdout

    shown = json.loads(_run(repo, DVC, "metrics", "show", "--json").stdout)
    files = next(iter(shown.values()))["data"]
    assert {f"metrics/eval/rate_{r}.json" for r in ("0.0", "0.5")} <= set(files)


def test_a_training_param_reruns_training_never_the_data_stages(reproduced: Path):
    repo = reproduced
    params = repo / "params.yaml"
    original = params.read_text()
    changed = yaml.safe_load(original)
    changed["train"]["learning_rate"] = 0.002
    params.write_text(yaml.safe_dump(changed, sort_keys=False))
    try:
        dry = _run(repo, DVC, "repro", "--dry").stdout
    finally:
        params.write_text(original)
    # A dry run lists the stages whose own inputs changed; evaluate and compare follow from
    # their outputs. Download and preprocess are never among them.
    ran = {line.split("'")[1] for line in dry.splitlines() if line.startswith("Running stage")}
    assert ran == {"train@0.0", "train@0.5"}


def test_exp_run_set_param_composes_conf_and_exp_show_has_metrics(reproduced: Path):
    repo = reproduced
    _run(repo, DVC, "exp", "run", "-S", "train.epochs=1", "-n", "one-epoch")
    table = json.loads(_run(repo, DVC, "exp", "show", "--json").stdout)
    text = json.dumps(table)
    assert "one-epoch" in text and "test_accuracy" in text


def test_exp_run_refuses_a_rate_the_matrix_would_override(reproduced: Path):
    repo = reproduced
    done = _run(repo, DVC, "exp", "run", "-S", "model.dropout.rate=0.3", ok=False)
    assert done.returncode != 0
    assert "sweep.rates=[0.3]" in done.stdout + done.stderr


def test_mlflow_project_train_entry_point_logs_into_its_own_run(reproduced: Path):
    repo = reproduced
    done = _run(
        repo, str(VENV_BIN / "mlflow"), "run", ".", "-e", "train", "--env-manager", "local",
        "--experiment-name", "project", "-P", "rate=0.3", "-P", "epochs=1",
    )  # fmt: skip
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("project").experiment_id])
    assert len(runs) == 1, done.stderr[-2000:]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["model.dropout.rate"] == "0.3"
    assert run.data.params["train.epochs"] == "1"
    assert "test_accuracy" in run.data.metrics


def _client(repo: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")


def _runs_of(repo: Path, experiment: str) -> list:
    client = _client(repo)
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


def test_one_dvc_repro_groups_its_trainings_under_one_parent_with_the_report(reproduced: Path):
    from pipeline import tracking

    runs = _runs_of(reproduced, "dropout-lab")
    groups = [r for r in runs if r.data.tags.get(tracking.TAG_SOURCE) == "dvc" and
              r.data.tags.get(tracking.TAG_ROLE) == "sweep"]  # fmt: skip
    assert len(groups) >= 1
    group = groups[-1]  # the first repro's (later tests add their own)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == group.info.run_id]
    assert sorted(r.data.params["model.dropout.rate"] for r in children) == ["0.0", "0.5"]
    assert {r.info.status for r in [group, *children]} == {"FINISHED"}
    assert all("test_accuracy" in r.data.metrics for r in children)  # the evaluate stages joined them
    assert all(len(r.data.tags[tracking.TAG_COMMIT]) == 40 for r in children)
    logged = {a.path for a in _client(reproduced).list_artifacts(group.info.run_id, "report")}
    assert "report/comparison.md" in logged


def test_mlflow_project_sweep_entry_point_keeps_parent_and_children_in_one_experiment(reproduced: Path):
    """As a new user types it, without --experiment-name: MLflow puts the entry point's run (the
    sweep's parent) in its Default experiment, so the children and the report must follow it there."""
    from pipeline import tracking

    done = _run(
        reproduced, str(VENV_BIN / "mlflow"), "run", ".", "-e", "sweep", "--env-manager", "local",
        "-P", "rates=0,0.5", "-P", "seeds=1", "-P", "epochs=1",
    )  # fmt: skip
    runs = _runs_of(reproduced, "Default")
    parents = [r for r in runs if r.data.tags.get(tracking.TAG_ROLE) == "sweep"]
    assert len(parents) == 1, done.stderr[-2000:]
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.params["model.dropout.rate"] for r in children) == ["0.0", "0.5"]
    assert {r.info.status for r in [parent, *children]} == {"FINISHED"}
    logged = {a.path for a in _client(reproduced).list_artifacts(parent.info.run_id, "report")}
    assert "report/comparison.md" in logged


def test_mlflow_project_main_entry_point_makes_the_dvc_trainings_its_children(reproduced: Path):
    """`mlflow run -e main` runs `dvc repro`: a changed training param re-runs both trainings, each a
    child of the entry point's run (not the entry point's run itself). Leaves the workspace's DVC
    outputs at the changed param: keep this test last in the module."""
    repo = reproduced
    params = repo / "params.yaml"
    original = _run(repo, "git", "show", "HEAD:params.yaml").stdout  # earlier `exp run -S` may have edited it
    changed = yaml.safe_load(original)
    changed["train"]["learning_rate"] = 0.003
    params.write_text(yaml.safe_dump(changed, sort_keys=False))
    try:
        done = _run(
            repo, str(VENV_BIN / "mlflow"), "run", ".", "-e", "main", "--env-manager", "local",
            "--experiment-name", "pipeline",
        )  # fmt: skip
    finally:
        params.write_text(original)
    runs = _runs_of(repo, "pipeline")
    project = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(project) == 1, done.stderr[-2000:]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == project[0].info.run_id]
    assert sorted(r.data.params["model.dropout.rate"] for r in children) == ["0.0", "0.5"]
    assert {r.data.params["train.learning_rate"] for r in children} == {"0.003"}
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert all("test_accuracy" in r.data.metrics for r in children)
