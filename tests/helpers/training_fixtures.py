"""Fixtures for tests that train: a tiny learnable dataset, a small config, a temp MLflow store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest

from pipeline.core.config import Settings, load_settings
from pipeline.core.params import compose_config
from pipeline.data.processed import ProcessedData, fingerprint

TINY_OVERRIDES = [
    "model.hidden_units=[16]",
    "train.epochs=3",
    "train.batch_size=16",
    "train.steps_per_execution=4",
    "train.progress=false",
    "tracking.experiment=test",
]


def tiny_settings_with(*overrides: str) -> Settings:
    import yaml

    return load_settings(yaml.safe_load(compose_config([*TINY_OVERRIDES, *overrides])))


def as_float(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels as the float32 arrays in [0, 1] earlier versions stored (their preprocess's
    formula): what the model must see, bit for bit, from the per-batch scaling."""
    return pixels.astype(np.float32) / np.float32(255)


def make_tiny_data(n_train: int = 320, n_val: int = 80, n_test: int = 80, seed: int = 0) -> ProcessedData:
    """Ten well-separated class prototypes plus noise, as uint8 pixels: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0.0, 255.0, size=(10, 784))

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 10
        x = np.clip(prototypes[y] + rng.normal(0, 0.3 * 255, size=(n, 784)), 0, 255).round().astype(np.uint8)
        return x, y.astype("int64")

    arrays = dict(zip(["x_train", "y_train"], split(n_train), strict=True))
    arrays |= dict(zip(["x_val", "y_val"], split(n_val), strict=True))
    arrays |= dict(zip(["x_test", "y_test"], split(n_test), strict=True))
    return ProcessedData(**arrays, fingerprint=fingerprint(arrays), name="tiny")


@pytest.fixture(scope="session")
def tiny_data() -> ProcessedData:
    return make_tiny_data()


@pytest.fixture
def tiny_settings() -> Settings:
    return tiny_settings_with("model.dropout.rate=0.2")


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh embedded SQLite store for one test; nothing leaks into the project's mlflow.db."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    mlflow.set_tracking_uri(uri)
    mlflow.MlflowClient().create_experiment("test", artifact_location=(tmp_path / "artifacts").as_uri())
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
