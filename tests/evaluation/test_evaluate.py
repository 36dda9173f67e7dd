"""Evaluation of a tiny trained model: honest numbers, reproducible MC dropout, logged into its run."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from pipeline.core.config import EvalConfig, Settings, load_settings
from pipeline.core.errors import UserError
from pipeline.core.layout import RunFiles, run_dir_files
from pipeline.core.params import compose_config
from pipeline.data.processed import ProcessedData
from pipeline.evaluation import metrics
from pipeline.evaluation.scoring import (
    evaluate_model,
    mc_dropout_passes,
    predict_probs,
    write_evaluation,
)
from pipeline.runs.tracked_evaluation import evaluate_tracked
from tests.helpers.training_fixtures import as_float, make_tiny_data

EVAL = EvalConfig(mc_samples=8, mc_curve=[], ece_bins=15)


def _mlp(rate: float | None, seed: int = 0) -> keras.Model:
    """784 -> 32 -> 10, with a Dropout layer of `rate` (None: no dropout layer at all)."""
    keras.utils.set_random_seed(seed)
    dropout = [] if rate is None else [keras.layers.Dropout(rate)]
    model = keras.Sequential(
        [keras.Input((784,)), keras.layers.Dense(32, activation="relu"), *dropout,
         keras.layers.Dense(10, activation="softmax")]
    )  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _fit(model: keras.Model, data: ProcessedData, epochs: int = 2) -> pd.DataFrame:
    fitted = model.fit(
        as_float(data.x_train), data.y_train, validation_data=(as_float(data.x_val), data.y_val),
        epochs=epochs, batch_size=32, verbose=0,
    )  # fmt: skip
    history = pd.DataFrame(fitted.history)
    return history.assign(epoch=np.arange(1, epochs + 1), gap=history["accuracy"] - history["val_accuracy"])


@pytest.fixture(scope="module")
def data() -> ProcessedData:
    return make_tiny_data(n_train=200, n_val=50, n_test=60)


@pytest.fixture(scope="module")
def trained(data: ProcessedData) -> tuple[keras.Model, pd.DataFrame]:
    model = _mlp(0.5)
    return model, _fit(model, data)


def test_mc_passes_differ_and_their_mean_differs_from_one_pass(trained, data):
    model, _ = trained
    passes = mc_dropout_passes(model, data.x_test, samples=4, seed=1)
    assert passes.shape == (4, len(data.x_test), 10)
    assert not np.allclose(passes[0], passes[1])
    assert not np.allclose(passes.mean(axis=0), passes[0])
    assert np.allclose(passes.sum(axis=2), 1.0, atol=1e-5)


def test_mc_dropout_is_reproducible_with_the_same_seed(trained, data):
    model, _ = trained
    first = mc_dropout_passes(model, data.x_test, samples=3, seed=7)
    again = mc_dropout_passes(model, data.x_test, samples=3, seed=7)
    other = mc_dropout_passes(model, data.x_test, samples=3, seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_rate_zero_mc_passes_equal_the_deterministic_prediction(data):
    model = _mlp(0.0)
    passes = mc_dropout_passes(model, data.x_test, samples=3, seed=1)
    deterministic = predict_probs(model, data.x_test)
    for one in passes:
        np.testing.assert_allclose(one, deterministic, rtol=1e-6, atol=1e-7)


def test_a_model_without_dropout_gets_no_mc_numbers(data):
    model = _mlp(None)
    evaluation = evaluate_model(model, data, _fit(model, data, epochs=1), EVAL, seed=0)
    assert evaluation.metrics["mc_samples"] == 0
    assert not any(key.startswith("mc_") and key != "mc_samples" for key in evaluation.metrics)
    assert evaluation.mc_reliability is None


def test_evaluation_numbers_agree_with_keras_and_with_each_other(trained, data):
    model, history = trained
    values = evaluate_model(model, data, history, EVAL, seed=0).metrics

    keras_loss, keras_accuracy = model.evaluate(as_float(data.x_test), data.y_test, verbose=0)
    assert values["test_loss"] == pytest.approx(keras_loss, abs=1e-4)
    assert values["test_accuracy"] == pytest.approx(keras_accuracy, abs=1e-6)
    assert values["overfit_gap"] == pytest.approx(
        values["train_accuracy"] - values["test_accuracy"], abs=2e-6
    )
    assert values["best_epoch"] == int(history["val_loss"].idxmin()) + 1
    assert values["val_loss_rise"] == pytest.approx(history["val_loss"].iloc[-1] - history["val_loss"].min())
    assert values["train_accuracy_running"] == pytest.approx(history["accuracy"].iloc[-1], abs=1e-6)
    assert set(values["per_class_accuracy"]) == {str(k) for k in range(10)}
    assert values["mc_samples"] == EVAL.mc_samples
    assert 0 <= values["mc_ece"] <= 1 and values["mc_entropy"] > 0
    assert values["mc_nll"] != pytest.approx(values["test_nll"], abs=1e-6)  # MC mean is another prediction


def test_train_accuracy_is_measured_with_dropout_off(trained, data):
    model, history = trained
    values = evaluate_model(model, data, history, EVAL, seed=0).metrics
    inference = metrics.accuracy(predict_probs(model, data.x_train), data.y_train)
    assert values["train_accuracy"] == pytest.approx(inference, abs=1e-6)


def test_written_files_are_dvc_confusion_rows_metrics_json_and_pngs(trained, data, tmp_path):
    model, history = trained
    evaluation = evaluate_model(model, data, history, EVAL, seed=0)
    files = run_dir_files(tmp_path)
    written = write_evaluation(evaluation, files)

    assert all(path.exists() for path in written)
    confusion = pd.read_csv(files.confusion)
    assert list(confusion.columns) == ["actual", "predicted"]
    assert len(confusion) == len(data.y_test)
    assert (confusion["actual"] == data.y_test).all()
    assert json.loads(files.eval_metrics.read_text()) == evaluation.metrics
    reliability = pd.read_csv(files.plots_dir / "reliability.csv")
    assert reliability["count"].sum() == len(data.y_test) and len(reliability) == EVAL.ece_bins
    for png in ["confusion.png", "reliability.png"]:
        assert (files.plots_dir / png).stat().st_size > 10_000


def _settings() -> Settings:
    return load_settings(yaml.safe_load(compose_config(["eval.mc_samples=4", "tracking.experiment=test"])))


def _training_run(tmp_path: Path, trained, data: ProcessedData, uri: str, fingerprint: str = "") -> RunFiles:
    """What train.py leaves behind: an MLflow run in experiment `test`, model, history, run.json."""
    model, history = trained
    with mlflow.start_run(experiment_id=MlflowClient().get_experiment_by_name("test").experiment_id) as run:
        mlflow.log_metric("val_loss", 0.5, step=1)
    info = {"seed": 3, "data_fingerprint": fingerprint or data.fingerprint}
    files = run_dir_files(tmp_path / "run")
    files.model_dir.mkdir(parents=True)
    model.save(files.model)
    history.to_csv(files.history, index=False)
    files.run_info.write_text(json.dumps(info))
    files.mlflow_run.write_text(json.dumps({"run_id": run.info.run_id, "tracking_uri": uri}))
    return files


def test_evaluation_logs_into_the_training_run_and_starts_no_new_run(trained, data, tmp_path, mlflow_store):
    files = _training_run(tmp_path, trained, data, mlflow_store)
    run_id = json.loads(files.mlflow_run.read_text())["run_id"]

    evaluation = evaluate_tracked(_settings(), data, files, "python -m pipeline.train")

    client = MlflowClient()
    experiment = client.get_experiment_by_name("test").experiment_id
    assert [r.info.run_id for r in client.search_runs([experiment])] == [run_id]
    assert len(client.search_experiments()) == 2  # `test` and MLflow's Default, nothing new
    logged = client.get_run(run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.metrics["test_accuracy"] == pytest.approx(evaluation.metrics["test_accuracy"])
    assert logged.data.metrics["mc_samples"] == 4
    assert "per_class_accuracy.0" in logged.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run_id, "eval")}
    assert {"eval/confusion.csv", "eval/reliability.png", "eval/eval_metrics.json"} <= artifacts
    assert files.eval_metrics.exists()


def test_evaluation_of_the_loaded_model_is_reproducible(trained, data, tmp_path, mlflow_store):
    files = _training_run(tmp_path, trained, data, mlflow_store)
    first = evaluate_tracked(_settings(), data, files, "x").metrics
    assert evaluate_tracked(_settings(), data, files, "x").metrics == first


def test_data_other_than_the_training_data_is_refused(trained, data, tmp_path, mlflow_store):
    files = _training_run(tmp_path, trained, data, mlflow_store, fingerprint="other")
    with pytest.raises(UserError, match="was trained on data other"):
        evaluate_tracked(_settings(), data, files, "python -m pipeline.train")


def test_a_missing_model_names_the_command_that_makes_it(data, tmp_path):
    with pytest.raises(UserError, match=r"model\.keras is missing\. Make it with: dvc repro train@0\.2"):
        evaluate_tracked(_settings(), data, run_dir_files(tmp_path), "dvc repro train@0.2")
