"""Real processes, real signals: a training killed with SIGKILL resumes in the same MLflow run, and
SIGTERM ends a run KILLED with one line and exit status 143."""

from __future__ import annotations

import signal
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow import MlflowClient

from tests.helpers.process_runs import (
    SLOW_EPOCHS,
    make_project,
    run_training,
    start_training,
    stop,
    wait_for_epoch,
)

# Slow tier: trainings killed by signals, then resumed, in processes.
pytestmark = pytest.mark.slow

METRICS = ["loss", "accuracy", "val_loss", "val_accuracy", "gap"]


def _weights(path: Path) -> list[np.ndarray]:
    return keras.saving.load_model(path, compile=False).get_weights()


def test_sigkill_after_epoch_2_of_4_then_resume_equals_an_uninterrupted_run(tmp_path: Path):
    root, data = make_project(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    overrides = [*data, *SLOW_EPOCHS, "train.epochs=4"]

    child = start_training(root, uri, *overrides)
    run_id, epoch = wait_for_epoch(root, child, 2)
    stop(child, signal.SIGKILL)
    assert epoch < 4
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(run_id).info.status == "RUNNING"  # nobody could record the SIGKILL

    # A key that decides nothing about the weights changed since the start (as when a preset gains
    # `sweep.rates` between a start and its resume): the run keeps the value it started with.
    resumed = run_training(root, uri, *overrides, "sweep.rates=[0.5]", f"train.resume={run_id}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["sweep.rates"] == "[0.0, 0.2, 0.5]"
    for key in METRICS:
        steps = [m.step for m in client.get_metric_history(run_id, key)]
        assert sorted(steps) == [1, 2, 3, 4], key
    assert not (root / "checkpoints" / run_id).exists()  # a finished run keeps no checkpoint
    resumed_model = root / "outputs" / "run" / "model.keras"
    resumed_weights = _weights(resumed_model)

    straight = run_training(root, uri, *overrides, run_dir="straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    straight_weights = _weights(root / "outputs" / "straight" / "model.keras")
    assert all(np.array_equal(a, b) for a, b in zip(resumed_weights, straight_weights, strict=True))
    assert len(client.search_runs([run.info.experiment_id])) == 2  # the resume made no new run


def test_sigterm_ends_the_run_killed_with_one_line_and_status_143(tmp_path: Path):
    root, data = make_project(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    child = start_training(root, uri, *data, *SLOW_EPOCHS, "train.epochs=20")
    run_id, _ = wait_for_epoch(root, child, 1)
    _, stderr = stop(child, signal.SIGTERM)

    assert child.returncode == 143
    assert "Traceback" not in stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(f"run {run_id} KILLED by SIGTERM after epoch ")
    assert f"train.resume={run_id}" in line
    assert MlflowClient(tracking_uri=uri).get_run(run_id).info.status == "KILLED"
    assert (root / "checkpoints" / run_id / "latest.json").exists()  # resumable
