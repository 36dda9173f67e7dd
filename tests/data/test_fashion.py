"""`data=fashion_mnist` by config alone, on the real files of Debian's `dataset-fashion-mnist` (which CI
installs): the download code verifies them by their checksums, the data layer reads and splits them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.core.config import load_settings
from pipeline.core.params import compose_config
from pipeline.data.build import build_dataset, read_raw
from pipeline.data.fetch import PRESENT, download_dataset

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def fashion(tmp_path_factory: pytest.TempPathFactory):
    assert DEBIAN.is_dir(), f"{DEBIAN} is missing: apt-get install dataset-fashion-mnist (as .ci/run does)"
    settings = load_settings(yaml.safe_load(compose_config(["data=fashion_mnist", "data.train_size=2000"])))
    folder = tmp_path_factory.mktemp("raw") / "fashion_mnist"
    return settings, folder, download_dataset(settings.data, folder)


def test_debian_files_come_through_the_download_code_verified(fashion, monkeypatch):
    settings, folder, origins = fashion
    assert settings.data.mirrors[0] == str(DEBIAN)
    assert origins == {key: str(DEBIAN / item.file) for key, item in settings.data.files}
    monkeypatch.delenv("DROPOUT_LAB_DATA_MIRROR", raising=False)
    assert set(download_dataset(settings.data, folder).values()) == {PRESENT}  # verified again, kept


def test_the_data_layer_reads_and_splits_them_as_configured(fashion):
    settings, folder, _ = fashion
    raw = read_raw(folder, settings.data.files)
    assert raw.x_train.shape == (60_000, 28, 28) and raw.x_test.shape == (10_000, 28, 28)
    data = build_dataset(raw, settings.data)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (2_000, 12_000, 10_000)
    assert data.image_shape == (28, 28) and data.name == "fashion_mnist"
    assert np.bincount(data.y_train).tolist() == [200] * 10  # Fashion-MNIST's classes are balanced
