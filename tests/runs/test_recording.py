"""Recording code cannot change what a stage writes: a tracked training or evaluation writes the
same bytes as the same work done with no tracking at all. This is why `dvc.yaml` leaves the
tracking layer out of the `train` and `evaluate` stages' deps (tests/stages/test_dvc_deps.py)."""

from __future__ import annotations

import pandas as pd

from pipeline.core.layout import RunFiles, run_dir_files
from pipeline.evaluation.scoring import evaluate_model, write_evaluation
from pipeline.process.launch import Launch, Source
from pipeline.runs.tracked_evaluation import evaluate_tracked
from pipeline.runs.tracked_training import train_tracked
from pipeline.training.loop import build_and_fit
from pipeline.training.outputs import write_outputs


def _bytes(files: RunFiles, names: list[str]) -> dict[str, bytes]:
    return {name: getattr(files, name).read_bytes() for name in names}


def test_a_tracked_training_writes_the_bytes_of_an_untracked_one(
    tiny_settings, tiny_data, mlflow_store, tmp_path
):
    tracked = run_dir_files(tmp_path / "tracked")
    run_id, _ = train_tracked(tiny_settings, tiny_data, Launch(Source.HYDRA), tracked)

    untracked = run_dir_files(tmp_path / "untracked")
    result = build_and_fit(tiny_settings, tiny_data)
    write_outputs(result, untracked, tiny_settings, tiny_data)

    names = ["model", "run_info", "history", "train_metrics"]
    assert _bytes(tracked, names) == _bytes(untracked, names)
    # Tracking adds only the hand-over to its evaluation (outside the model folder under DVC).
    assert {p.name for p in tracked.model_dir.iterdir()} == {
        *(p.name for p in untracked.model_dir.iterdir()),
        tracked.mlflow_run.name,
    }
    from mlflow import MlflowClient

    assert MlflowClient().get_run(run_id).info.status == "FINISHED"  # it really recorded


def test_an_evaluation_logged_into_its_run_writes_the_bytes_of_an_unlogged_one(
    tiny_settings, tiny_data, mlflow_store, tmp_path
):
    files = run_dir_files(tmp_path / "run")
    run_id, result = train_tracked(tiny_settings, tiny_data, Launch(Source.HYDRA), files)
    tracked = evaluate_tracked(tiny_settings, tiny_data, files, "train it")
    logged = _bytes(files, ["eval_metrics", "confusion"])

    alone = evaluate_model(
        result.model, tiny_data, pd.read_csv(files.history), tiny_settings.eval, tiny_settings.train.seed
    )
    untracked = run_dir_files(tmp_path / "untracked")
    write_evaluation(alone, untracked)
    assert tracked.metrics == alone.metrics
    assert logged == _bytes(untracked, ["eval_metrics", "confusion"])
    from mlflow import MlflowClient

    assert MlflowClient().get_run(run_id).data.metrics["test_accuracy"] == tracked.metrics["test_accuracy"]
