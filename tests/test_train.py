"""Training: seeded and deterministic, tracked in MLflow with everything a run must record (params,
per-epoch metrics, tags, artifacts, the model), and never left RUNNING."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from pipeline.core.config import ConfigError, flatten, load_settings
from pipeline.core.errors import UserError
from pipeline.core.launch import Launch, Source
from pipeline.core.layout import dvc_files, run_dir_files
from pipeline.core.params import compose_config, default_rate
from pipeline.tracking.active_run import training_run
from pipeline.tracking.tags import TAG_COMMIT, TAG_FINGERPRINT, TAG_IMPL, TAG_SWEEP
from pipeline.train import run_files, train_and_track
from pipeline.training.loop import build_and_fit

ROOT = Path(__file__).resolve().parent.parent


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


def test_a_run_logs_params_metrics_tags_and_artifacts(tiny_settings, tiny_data, mlflow_store, tmp_path):
    files = run_dir_files(tmp_path / "run")
    run_id = train_and_track(tiny_settings, tiny_data, files, Launch(Source.HYDRA))

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


def _params(rate: float, item: float | None, rates: list[float] | None = None) -> dict:
    """params.yaml (sweep.rates [0.0, 0.2, 0.5]) with this rate, and the matrix item a DVC stage's
    command adds (`+sweep.item=${item.rate}`)."""
    params = yaml.safe_load(compose_config())
    params["model"]["dropout"]["rate"] = rate
    if rates is not None:
        params["sweep"]["rates"] = rates
    if item is not None:
        params["sweep"]["item"] = item
    return params


def test_a_dvc_stage_trains_its_matrix_item():
    settings = load_settings(_params(0.5, 0.2))
    assert settings.model.dropout.rate == settings.sweep.item == 0.2
    assert flatten(settings)["model.dropout.rate"] == 0.2  # the MLflow param
    assert run_files(settings, Launch(Source.DVC)) == dvc_files(0.2)
    # The standard paper recipe: no dropout, a matrix of that rate alone.
    assert load_settings(_params(0.0, 0.0, rates=[0.0])).model.dropout.rate == 0.0


REFUSAL = "model.dropout.rate = 0.3 in params.yaml, but the DVC train matrix sets the rate of each stage"


def test_dvc_refuses_a_rate_the_matrix_would_ignore():
    """`dvc exp run -S model.dropout.rate=0.3`: neither one of sweep.rates nor the default rate."""
    with pytest.raises(ConfigError) as caught:
        load_settings(_params(0.3, 0.5), default_rate=default_rate)
    message = str(caught.value)
    assert f"{REFUSAL} from sweep.rates [0.0, 0.2, 0.5], so this rate would be ignored" in message
    assert "Use: dvc exp run -S 'sweep.rates=[0.3]'" in message
    assert "(or python -m pipeline.train model.dropout.rate=0.3 for a single run)" in message


def test_dvc_takes_the_default_rate_as_no_rate_asked_for():
    """`dvc exp run -S 'sweep.rates=[0.0,0.3]'`: params.yaml keeps conf/'s default rate (0.5), which
    nobody asked for, so each stage trains its item."""
    settings = load_settings(_params(0.5, 0.3, rates=[0.0, 0.3]), default_rate=default_rate)
    assert settings.model.dropout.rate == 0.3


def _never() -> float:
    raise AssertionError("the default rate was composed for a rate in sweep.rates")


def test_a_rate_of_the_matrix_passes_without_composing_the_default():
    """`dvc exp run -S model.dropout.rate=0.2`: a rate the matrix runs anyway; and a stage whose
    rate is in sweep.rates (every plain `dvc repro`) pays no composition."""
    assert load_settings(_params(0.2, 0.5), default_rate=_never).model.dropout.rate == 0.5
    assert load_settings(_params(0.3, None), default_rate=_never).model.dropout.rate == 0.3


def test_without_a_default_rate_the_item_just_becomes_the_rate():
    """Only the train stage refuses (evaluate runs after it): evaluate, tools and tests pass no default."""
    assert load_settings(_params(0.3, 0.5)).model.dropout.rate == 0.5


def test_dvc_refuses_an_item_outside_the_matrix():
    with pytest.raises(ConfigError) as caught:
        load_settings(_params(0.5, 0.3))
    assert "sweep.item = 0.3: not one of sweep.rates [0.0, 0.2, 0.5]" in str(caught.value)


def test_without_an_item_the_rate_is_the_one_written():
    settings = load_settings(_params(0.3, None))
    assert settings.model.dropout.rate == 0.3 and settings.sweep.item is None
    assert "sweep.item" not in flatten(settings)
    with pytest.raises(UserError, match=r"\+sweep\.item=<rate>"):
        run_files(settings, Launch(Source.DVC))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model.dropout.rate=0.3", "+sweep.item=0.5"], f"error: invalid config:\n  {REFUSAL}"),
        # Validation passes (the default rate, composed inside the app); then the data is missing.
        (["sweep.rates=[0.0,0.3]", "+sweep.item=0.3"], "mnist.npz does not exist"),
    ],
)
def test_a_dvc_stage_checks_the_rate_inside_its_hydra_app(
    tmp_path: Path, overrides: list[str], expected: str
):
    """The stage's own command, as dvc.yaml runs it, on this checkout's params.yaml: the default
    rate comes from conf/ while the app runs on params.yaml, and the app carries on after it."""
    command = [sys.executable, "-m", "pipeline.train", "--config-dir", ".", "--config-name", "params",
               *overrides, f"hydra.run.dir={tmp_path}"]  # fmt: skip
    env = {**os.environ, "DROPOUT_LAB_ROOT": str(tmp_path)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
