"""A saved `.keras` model's bytes depend only on the model, and the file still loads."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hashlib
import time
import zipfile
from pathlib import Path

import keras
import numpy as np

from pipeline.model.layers import ScratchDropout
from pipeline.model.saving import DATE_SAVED, ZIP_DATE, save_model


def _model() -> keras.Model:
    """A fresh model, as a training process builds one (same auto-generated layer names)."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4, activation="relu"), ScratchDropout(0.5, seed=1),
         keras.layers.Dense(3, activation="softmax")]
    )  # fmt: skip


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_two_builds_saved_a_second_apart_are_byte_identical_and_plain_saves_are_not(tmp_path: Path):
    """Same seed, two model objects (other memory addresses), another second on the clock."""
    first = _model()
    first.save(tmp_path / "plain_a.keras")
    save_model(first, tmp_path / "a.keras")
    time.sleep(1.1)  # the clock Keras stamps moves on: only the pinned file ignores it
    second = _model()
    second.save(tmp_path / "plain_b.keras")
    save_model(second, tmp_path / "b.keras")
    assert _md5(tmp_path / "plain_a.keras") != _md5(tmp_path / "plain_b.keras")
    assert _md5(tmp_path / "a.keras") == _md5(tmp_path / "b.keras")
    with zipfile.ZipFile(tmp_path / "plain_a.keras") as a, zipfile.ZipFile(tmp_path / "plain_b.keras") as b:
        assert a.read("config.json") != b.read("config.json")  # id() of the shared dtype policy
        assert a.read("model.weights.h5") == b.read("model.weights.h5")  # same seed, same weights
    with zipfile.ZipFile(tmp_path / "a.keras") as archive:
        assert {info.date_time for info in archive.infolist()} == {ZIP_DATE}
        assert DATE_SAVED in archive.read("metadata.json").decode()
        assert '"shared_object_id": 0' in archive.read("config.json").decode()
        names = [info.filename for info in archive.infolist()]
        assert names == ["metadata.json", "config.json", "model.weights.h5"]


def test_the_pinned_file_loads_with_the_same_weights_predictions_and_sharing(tmp_path: Path):
    model = _model()
    save_model(model, tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(x, training=False)),
        keras.ops.convert_to_numpy(loaded(x, training=False)),
    )
    for ours, theirs in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs))
    # renumbered shared-object ids load into the same sharing as Keras' own file does
    model.save(tmp_path / "plain.keras")
    plain = keras.saving.load_model(tmp_path / "plain.keras", compile=False)
    assert len({id(layer.dtype_policy) for layer in loaded.layers}) == len(
        {id(layer.dtype_policy) for layer in plain.layers}
    )
