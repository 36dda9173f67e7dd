"""The CNN (`model=cnn`): its layers as configured, dropout in the dense head and on the feature maps
(standard or spatial, Keras' layers or ours), tiny real trainings with both, a byte-stable file."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import keras
import numpy as np
import pytest

from pipeline.data.processed import ProcessedData, fingerprint
from pipeline.model.blocks import has_dropout
from pipeline.model.layers import ScratchDropout
from pipeline.model.registry import build_model
from pipeline.model.saving import save_model
from pipeline.training.loop import build_and_fit
from tests.helpers.training_fixtures import tiny_settings_with

SMALL = ("model=cnn", "model.filters=[4,8]", "model.hidden_units=[16]")


def shapes_data(n_train: int = 320, n_val: int = 80, n_test: int = 80) -> ProcessedData:
    """Ten classes a convolution sees at once: a bright 6x6 square at one of ten places, in noise."""
    rng = np.random.default_rng(0)
    corners = [(row, col) for row in (2, 11, 20) for col in (2, 11, 20)] + [(11, 6)]

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 10
        images = rng.normal(60, 30, size=(n, 28, 28))
        for image, label in zip(images, y, strict=True):
            row, col = corners[label]
            image[row : row + 6, col : col + 6] += 150
        return np.clip(images, 0, 255).round().astype(np.uint8).reshape(n, 784), y.astype("int64")

    arrays = dict(zip(["x_train", "y_train"], split(n_train), strict=True))
    arrays |= dict(zip(["x_val", "y_val"], split(n_val), strict=True))
    arrays |= dict(zip(["x_test", "y_test"], split(n_test), strict=True))
    return ProcessedData(**arrays, fingerprint=fingerprint(arrays), name="shapes")


def cnn_settings(*overrides: str):
    return tiny_settings_with(*SMALL, *overrides)


def cnn(*overrides: str, seed: int = 0) -> keras.Model:
    return build_model(cnn_settings(*overrides).model, (28, 28), 10, seed)


def _layers(model: keras.Model) -> list[tuple[str, str]]:
    return [(layer.name, type(layer).__name__) for layer in model.layers]


def test_without_dropout_it_is_conv_blocks_then_the_dense_head():
    model = cnn("model.dropout.rate=0", "model.feature_dropout.rate=0")
    assert _layers(model) == [
        ("inputs", "InputLayer"), ("image", "Reshape"),
        ("conv_1", "Conv2D"), ("pool_1", "MaxPooling2D"),
        ("conv_2", "Conv2D"), ("pool_2", "MaxPooling2D"),
        ("flatten", "Flatten"), ("hidden_1", "Dense"), ("output", "Dense"),
    ]  # fmt: skip
    assert model.input_shape == (None, 784) and model.output_shape == (None, 10)
    assert model.get_layer("pool_2").output.shape == (None, 7, 7, 8)
    assert not has_dropout(model)


@pytest.mark.parametrize(
    ("impl", "kind", "maps_type"),
    [("keras", "standard", "Dropout"), ("keras", "spatial", "SpatialDropout2D"),
     ("scratch", "standard", "ScratchDropout"), ("scratch", "spatial", "ScratchDropout")],
)  # fmt: skip
def test_dropout_goes_where_the_config_puts_it(impl: str, kind: str, maps_type: str):
    model = cnn(
        "model.dropout.rate=0.5", f"model.dropout.impl={impl}",
        "model.feature_dropout.rate=0.2", f"model.feature_dropout.kind={kind}",
    )  # fmt: skip
    names = [name for name, _ in _layers(model)]
    assert names.index("feature_dropout_1") == names.index("pool_1") + 1
    assert names.index("feature_dropout_2") == names.index("pool_2") + 1
    assert names.index("dropout_1") == names.index("hidden_1") + 1
    maps = model.get_layer("feature_dropout_1")
    assert (type(maps).__name__, maps.rate) == (maps_type, 0.2)
    head = model.get_layer("dropout_1")
    assert (type(head).__name__, head.rate) == ("ScratchDropout" if impl == "scratch" else "Dropout", 0.5)
    if impl == "scratch" and kind == "spatial":
        assert maps.noise_shape == (None, 1, 1, 4)
    assert has_dropout(model)


@pytest.mark.parametrize("layer", ["scratch", "keras"])
def test_spatial_dropout_drops_whole_feature_maps(layer: str):
    """Each (example, map) is kept or dropped whole, at the configured rate, kept ones scaled by
    1 / (1 - rate): what the NumPy reference does with the same noise shape."""
    from pipeline.model.dropout import Dropout

    rate, shape = 0.3, (200, 6, 6, 50)
    x = np.random.default_rng(0).uniform(0.5, 1.5, size=shape).astype("float32")
    if layer == "scratch":
        out = keras.ops.convert_to_numpy(
            ScratchDropout(rate, noise_shape=(None, 1, 1, None), seed=4)(x, training=True)
        )
    else:
        out = keras.ops.convert_to_numpy(keras.layers.SpatialDropout2D(rate, seed=4)(x, training=True))
    reference = Dropout(rate, rng=4, noise_shape=(shape[0], 1, 1, shape[3])).forward(x, training=True)
    for found in (out, reference):
        kept = found != 0
        assert (kept == kept[:, :1, :1, :]).all()  # one draw per example and map
        maps = kept[:, 0, 0, :]
        assert abs(maps.mean() - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / maps.size)
        np.testing.assert_allclose(found[kept], x[kept] / (1 - rate), rtol=1e-6)


@pytest.mark.parametrize("impl", ["keras", "scratch"])
@pytest.mark.parametrize("kind", ["standard", "spatial"])
def test_a_tiny_cnn_learns_with_either_dropout(impl: str, kind: str):
    data = shapes_data()
    settings = cnn_settings(
        "model.dropout.rate=0.3", f"model.dropout.impl={impl}",
        "model.feature_dropout.rate=0.2", f"model.feature_dropout.kind={kind}", "train.epochs=6",
    )  # fmt: skip
    result = build_and_fit(settings, data)
    assert list(result.history["epoch"]) == [1, 2, 3, 4, 5, 6]
    assert result.history["loss"].iloc[-1] < result.history["loss"].iloc[0]
    assert result.history["val_accuracy"].iloc[-1] > 0.5  # ten classes: chance is 0.1
    again = build_and_fit(settings, data)  # the same config and seed: the same numbers
    assert again.history.equals(result.history)


def test_the_cnn_file_is_byte_stable_and_loads_with_the_same_outputs(tmp_path: Path):
    from pipeline.evaluation.scoring import load_trained

    model = cnn("model.dropout.impl=scratch", "model.feature_dropout.rate=0.2", seed=1)
    save_model(model, tmp_path / "a.keras")
    save_model(
        cnn("model.dropout.impl=scratch", "model.feature_dropout.rate=0.2", seed=1), tmp_path / "b.keras"
    )
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
    x = np.random.default_rng(0).uniform(0, 1, size=(4, 784)).astype("float32")
    loaded = load_trained(tmp_path / "a.keras")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)))
