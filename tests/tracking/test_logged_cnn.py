"""The CNN's logged MLflow model: `mlflow.pyfunc` loads it from its run and predicts what the trained
model does, on the flat pixel rows every model takes (a real SQLite store, a real tiny training)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np

from pipeline.core.layout import run_dir_files
from pipeline.process.launch import Launch, Source
from pipeline.runs.tracked_training import train_tracked
from tests.helpers.training_fixtures import as_float, tiny_settings_with


def test_the_logged_cnn_loads_through_pyfunc_and_predicts_as_trained(tiny_data, mlflow_store, tmp_path: Path):
    settings = tiny_settings_with(
        "model=cnn", "model.filters=[4,8]", "model.dropout.impl=scratch", "model.feature_dropout.rate=0.2",
        "train.epochs=1", "tracking.log_model=true",
    )  # fmt: skip
    run_id, result = train_tracked(settings, tiny_data, Launch(Source.HYDRA), run_dir_files(tmp_path / "run"))

    loaded = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    images = as_float(tiny_data.x_test[:16])
    expected = np.asarray(result.model(images, training=False))
    np.testing.assert_allclose(loaded.predict(images), expected, rtol=1e-6, atol=1e-7)
    assert mlflow.get_run(run_id).data.params["model.name"] == "cnn"
