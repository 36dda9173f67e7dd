"""Recording code cannot change what a stage writes: a tracked training or evaluation writes the
same bytes as the same work done with no tracking at all. This is why `dvc.yaml` leaves the
tracking layer out of the `train` and `evaluate` stages' deps (tests/test_dvc_deps.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.core.layout import RunFiles, run_dir_files
from pipeline.evaluate import run_evaluation
from pipeline.evaluation.scoring import evaluate_model, write_evaluation
from pipeline.process.launch import Launch, Source
from pipeline.train import train_and_track, write_outputs
from pipeline.training.loop import build_and_fit


def _bytes(files: RunFiles, names: list[str]) -> dict[str, bytes]:
    return {name: getattr(files, name).read_bytes() for name in names}


def test_a_tracked_training_writes_the_bytes_of_an_untracked_one(
    tiny_settings, tiny_data, mlflow_store, tmp_path
):
    tracked = run_dir_files(tmp_path / "tracked")
    train_and_track(tiny_settings, tiny_data, tracked, Launch(Source.HYDRA))

    untracked = run_dir_files(tmp_path / "untracked")
    result = build_and_fit(tiny_settings, tiny_data)
    write_outputs(result, untracked, tiny_settings, tiny_data)

    names = ["model", "run_info", "history", "train_metrics"]
    assert _bytes(tracked, names) == _bytes(untracked, names)
    png = "learning_curves.png"
    assert (tracked.model_dir / png).read_bytes() == (untracked.model_dir / png).read_bytes()


def test_an_evaluation_logged_into_its_run_writes_the_bytes_of_an_unlogged_one(
    tiny_settings, tiny_data, mlflow_store, tmp_path, monkeypatch
):
    files = run_dir_files(tmp_path / "run")
    train_and_track(tiny_settings, tiny_data, files, Launch(Source.HYDRA))
    monkeypatch.setattr("pipeline.data.build.load_for", lambda cfg, root: tiny_data)
    tracked = run_evaluation(tiny_settings, files, "train it")
    logged = _bytes(files, ["eval_metrics", "confusion"])

    result = build_and_fit(tiny_settings, tiny_data)
    alone = evaluate_model(
        result.model, tiny_data, pd.read_csv(files.history), tiny_settings.eval, tiny_settings.train.seed
    )
    untracked = run_dir_files(tmp_path / "untracked")
    write_evaluation(alone, untracked)
    assert tracked.metrics == alone.metrics
    assert logged == _bytes(untracked, ["eval_metrics", "confusion"])


def test_the_recorded_run_exists(tiny_settings, tiny_data, mlflow_store, tmp_path):
    """The tracked side of the comparisons above really recorded (else they would prove nothing)."""
    from mlflow import MlflowClient

    run_id = train_and_track(tiny_settings, tiny_data, run_dir_files(tmp_path / "r"), Launch(Source.HYDRA))
    assert MlflowClient().get_run(run_id).info.status == "FINISHED"
    assert Path(tmp_path / "r").is_dir()
