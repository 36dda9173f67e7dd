"""`tracking.register_model=true`: each training of the DVC pipeline registers its logged model as a
new version of `<experiment>-<dataset>-<model>`, the alias of its rate pointing at it, and the
registered version loads by that alias (a real SQLite store, real trainings)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest

from pipeline.core.config import ConfigError
from pipeline.core.layout import run_dir_files
from pipeline.process.launch import Launch, Source
from pipeline.runs.tracked_training import train_tracked
from tests.helpers.training_fixtures import as_float, tiny_settings_with

NAME = "test-mnist-mlp"  # experiment `test` (the fixtures'), MNIST, the MLP


def test_each_rate_of_the_pipeline_is_registered_and_loads_by_its_alias(
    tiny_data, mlflow_store, tmp_path: Path
):
    launch = Launch(Source.DVC, dvc_invocation="registry-test")  # the DVC train stages, one invocation
    trained = {}
    for rate in (0.2, 0.5):
        settings = tiny_settings_with(f"model.dropout.rate={rate}", "tracking.register_model=true")
        files = run_dir_files(tmp_path / f"rate_{rate}")
        trained[rate] = train_tracked(settings, tiny_data, launch, files)

    client = mlflow.MlflowClient()
    versions = {v.run_id: v.version for v in client.search_model_versions(f"name = '{NAME}'")}
    assert set(versions) == {run_id for run_id, _ in trained.values()}
    images = as_float(tiny_data.x_test[:16])
    for rate, alias in ((0.2, "rate-0_2"), (0.5, "rate-0_5")):
        run_id, result = trained[rate]
        version = client.get_model_version_by_alias(NAME, alias)
        assert (version.run_id, version.version) == (run_id, versions[run_id])
        registered = mlflow.pyfunc.load_model(f"models:/{NAME}@{alias}")
        expected = np.asarray(result.model(images, training=False))
        np.testing.assert_allclose(registered.predict(images), expected, rtol=1e-6, atol=1e-7)


def test_registering_needs_the_logged_model():
    with pytest.raises(ConfigError, match=r"tracking.register_model = True: .*set tracking.log_model=true"):
        tiny_settings_with("tracking.register_model=true", "tracking.log_model=false")
