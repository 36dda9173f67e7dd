"""A Hydra multirun over dropout rates: one MLflow parent run, one child per job (joblib processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from process_runs import LIBRARY_NOISE
from synthetic import SyntheticMnist, downloaded_project, synthetic_overrides

from pipeline.tracking.tags import TAG_PID, TAG_ROLE, TAG_SWEEP

ROOT = Path(__file__).resolve().parent.parent
TINY = ["model.hidden_units=[16]", "train.epochs=2", "eval.mc_samples=3", "tracking.log_model=false"]


def _multirun(root: Path, uri: str, *overrides: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DROPOUT_LAB_ROOT": str(root), "MLFLOW_TRACKING_URI": uri}
    env.pop("MLFLOW_RUN_ID", None)
    return subprocess.run(
        [sys.executable, "-m", "pipeline.train", "-m", *overrides, f"hydra.sweep.dir={root}/multirun"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_a_two_rate_sweep_makes_one_parent_and_two_children(synthetic_mnist: SyntheticMnist, tmp_path):
    root = downloaded_project(tmp_path, synthetic_mnist)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    overrides = [*synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s), *TINY]
    done = _multirun(
        root, uri, "model.dropout.rate=0,0.5", *overrides, "tracking.log_model=true", "+tags.team=vision"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    output = done.stdout + done.stderr  # the pipeline's own lines only, the jobs listed
    assert not [noise for noise in LIBRARY_NOISE if noise in output], output[-5000:]
    assert "#0 : model.dropout.rate=0 " in output and "#1 : model.dropout.rate=0.5 " in output

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("dropout-lab")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get(TAG_ROLE) == "sweep"]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 3 and len(children) == 2
    assert sorted(r.data.params["model.dropout.rate"] for r in children) == ["0.0", "0.5"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags.get("team") for r in runs} == {"vision"}  # the user's tags, on parent and children
    pids = {r.data.tags[TAG_PID] for r in runs}
    assert len(pids) == 3  # the jobs ran in processes of their own, not in the sweep's
    assert "model.dropout.rate=0,0.5" in parent.data.params["sweep.overrides"]
    sweep_id = parent.data.tags[TAG_SWEEP]
    assert {r.data.tags[TAG_SWEEP] for r in children} == {sweep_id}
    # Each child was evaluated inside its own run, and the report went to the parent.
    assert all("test_accuracy" in r.data.metrics for r in children)
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/comparison.md" in report


@pytest.mark.slow
def test_a_sweep_with_a_failing_job_ends_its_parent_failed(synthetic_mnist: SyntheticMnist, tmp_path):
    root = downloaded_project(tmp_path, synthetic_mnist)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    overrides = [*synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s), *TINY]
    # 10,000 training images do not exist in the synthetic set: both jobs fail with a clear error.
    done = _multirun(root, uri, "model.dropout.rate=0,0.5", "data.train_size=10000", *overrides)
    assert done.returncode != 0
    assert "data.train_size" in done.stderr and "Traceback" not in done.stderr

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("dropout-lab").experiment_id])
    statuses = {r.data.tags.get(TAG_ROLE): r.info.status for r in runs}
    assert statuses == {"sweep": "FAILED"}
