"""Training: seeded and deterministic, tracked in MLflow with everything a run must record (params,
per-epoch metrics, tags, artifacts, the model), and never left RUNNING."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from pipeline.core.config import flatten, load_settings
from pipeline.core.layout import dvc_files, run_dir_files
from pipeline.core.params import compose_config
from pipeline.core.paths import project_path
from pipeline.process.launch import Launch, Source
from pipeline.runs.tracked_evaluation import evaluate_tracked
from pipeline.runs.tracked_training import train_tracked
from pipeline.tracking.active_run import training_run
from pipeline.tracking.tags import TAG_COMMIT, TAG_FINGERPRINT, TAG_IMPL, TAG_SWEEP
from pipeline.train import run_files
from pipeline.training.loop import build_and_fit, print_epoch_line

ROOT = Path(__file__).resolve().parents[2]


def test_same_config_and_seed_give_identical_histories(tiny_settings, tiny_data):
    first = build_and_fit(tiny_settings, tiny_data).history
    second = build_and_fit(tiny_settings, tiny_data).history
    assert first.equals(second)
    assert len(first) == tiny_settings.train.epochs


def test_another_seed_gives_other_numbers(tiny_settings, tiny_data):
    other = tiny_settings.model_copy(update={"train": tiny_settings.train.model_copy(update={"seed": 7})})
    assert not build_and_fit(tiny_settings, tiny_data).history.equals(build_and_fit(other, tiny_data).history)


def test_training_learns(tiny_settings, tiny_data):
    history = build_and_fit(tiny_settings, tiny_data).history
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert history["val_accuracy"].iloc[-1] > 0.5  # 10 classes: chance is 0.1
    assert (history["gap"] == history["accuracy"] - history["val_accuracy"]).all()


def test_on_a_terminal_a_lone_run_draws_a_bar_and_a_sweeps_job_prints_lines_with_its_label(
    tiny_settings, tiny_data, monkeypatch, capsys, caplog
):
    """Jobs side by side share the terminal: their bars would draw over each other, and a line
    must say whose it is. The lines are logged where logging has a handler (here pytest's)."""
    caplog.set_level(logging.INFO, logger="pipeline.training.loop")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    shown = tiny_settings.model_copy(
        update={"train": tiny_settings.train.model_copy(update={"progress": True})}
    )
    epochs = shown.train.epochs

    build_and_fit(shown, tiny_data, line_prefix="[rate=0.2 seed=1] ")
    lines = [r.getMessage() for r in caplog.records if "epoch " in r.getMessage()]
    assert [line.split("  ")[0] for line in lines] == [
        f"[rate=0.2 seed=1] epoch {n}" for n in range(1, epochs + 1)
    ]
    assert "Epoch 1/" not in capsys.readouterr().out

    caplog.clear()
    build_and_fit(shown, tiny_data)
    assert f"Epoch 1/{epochs}" in capsys.readouterr().out  # Keras' bar, as the run has the terminal alone
    assert not [r for r in caplog.records if "epoch " in r.getMessage()]


def test_without_logging_the_epoch_line_is_printed_with_its_prefix(capsys):
    row = {"epoch": 3, "loss": 0.5, "accuracy": 0.9, "val_loss": 0.6, "val_accuracy": 0.85, "gap": 0.05}
    print_epoch_line(row, 1.25, "[rate=0.5] ")
    assert capsys.readouterr().out == (
        "[rate=0.5] epoch 3  loss 0.5000  acc 0.9000  val_loss 0.6000  val_acc 0.8500  gap +0.0500  (1.2s)\n"
    )


def test_a_run_logs_params_metrics_tags_and_artifacts(tiny_settings, tiny_data, mlflow_store, tmp_path):
    """A training and the evaluation that joins its run: everything docs/mlflow.md lists."""
    files = run_dir_files(tmp_path / "run")
    run_id, _ = train_tracked(tiny_settings, tiny_data, Launch(Source.HYDRA), files)
    assert "learning_curves.png" not in {p.name for p in files.model_dir.iterdir()}  # no output
    evaluate_tracked(tiny_settings, tiny_data, files, "train it")

    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.dropout.rate"] == str(tiny_settings.model.dropout.rate)
    assert run.data.params["train.epochs"] == str(tiny_settings.train.epochs)
    assert run.data.params["model.hidden_units"] == "[16]"
    for key in ["loss", "accuracy", "val_loss", "val_accuracy", "gap"]:
        steps = [m.step for m in client.get_metric_history(run_id, key)]
        assert steps == list(range(1, tiny_settings.train.epochs + 1)), key
    tags = run.data.tags
    assert len(tags[TAG_COMMIT]) == 40
    assert tags[TAG_FINGERPRINT] == tiny_data.fingerprint
    assert tags[TAG_IMPL] == tiny_settings.model.dropout.impl
    assert TAG_SWEEP in tags

    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "history.csv", "learning_curves.png"} <= artifacts
    logged = mlflow.keras.load_model(f"runs:/{run_id}/model")
    assert logged.count_params() > 0
    model_info = mlflow.models.get_model_info(f"runs:/{run_id}/model")
    assert model_info.signature is not None
    # The input example: the first two test images as the model reads them (float32 in [0, 1]).
    example = mlflow.models.Model.load(f"runs:/{run_id}/model").load_input_example()
    assert example.dtype == np.float32 and example.shape == (2, 784)
    assert (example == tiny_data.x_test[:2].astype(np.float32) / np.float32(255)).all()

    assert json.loads(files.mlflow_run.read_text())["run_id"] == run_id
    assert "run_id" not in json.loads(files.run_info.read_text())  # the model folder has no run id
    assert files.model.exists() and files.history.exists()
    assert json.loads(files.train_metrics.read_text())["epochs"] == tiny_settings.train.epochs


@pytest.mark.parametrize(("error", "status"), [(RuntimeError, "FAILED"), (KeyboardInterrupt, "KILLED")])
def test_a_broken_run_is_never_left_running(tiny_settings, tiny_data, mlflow_store, tmp_path, error, status):
    def explode(row, seconds):
        raise error("stop")

    with (
        pytest.raises(error),
        training_run(tiny_settings, Launch(Source.HYDRA), {}),
    ):
        build_and_fit(tiny_settings, tiny_data, on_epoch=[explode])

    runs = MlflowClient().search_runs([mlflow.get_experiment_by_name("test").experiment_id])
    assert [r.info.status for r in runs] == [status]


def test_a_dvc_stage_writes_the_paths_dvc_yaml_declares_for_the_item_its_command_passes():
    """dvc.yaml's matrix stages run on params.yaml with `model.dropout.rate=${item.rate}
    train.seed=${item.seed}`: those keys are the rate and seed the stage trains, logs and names its
    outputs after, as DVC names them."""
    train = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]
    assert train["cmd"].endswith(
        "--config-name params model.dropout.rate=${item.rate} train.seed=${item.seed}"
    )
    for rate, seed in ((0.0, 42), (0.2, 7)):
        params = yaml.safe_load(compose_config())
        params["model"]["dropout"]["rate"], params["train"]["seed"] = rate, seed  # what the overrides set
        settings = load_settings(params)
        assert flatten(settings)["model.dropout.rate"] == rate  # the MLflow params
        assert flatten(settings)["train.seed"] == seed
        # the text of a YAML float and int
        declared = train["outs"][0].replace("${item.rate}", str(rate)).replace("${item.seed}", str(seed))
        assert run_files(settings, Launch(Source.DVC)) == dvc_files(settings)
        assert dvc_files(settings).model_dir == project_path(declared)
