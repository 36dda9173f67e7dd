"""Evaluation's forward passes give exactly the numbers of calling the whole model eagerly per batch."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.evaluation.inference import BatchedForward, chain_layers
from pipeline.evaluation.scoring import mc_dropout_passes, predict_probs, reseed_dropout
from pipeline.model.registry import build_model
from tests.helpers.training_fixtures import as_float, tiny_settings_with

BATCH = 128  # 300 rows: two full batches and a short one


def eager_passes(model: keras.Model, pixels: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """The reference: the whole model called eagerly on each batch of the float32 images (scaled as
    earlier versions stored them), pass after pass."""
    x = as_float(pixels)
    reseed_dropout(model, seed)
    return np.stack(
        [
            np.concatenate(
                [
                    keras.ops.convert_to_numpy(model(x[i : i + BATCH], training=True))
                    for i in range(0, len(x), BATCH)
                ]
            ).astype(np.float64)
            for _ in range(samples)
        ]
    )


def project_model(*overrides: str) -> keras.Model:
    settings = tiny_settings_with(*overrides)
    return build_model(settings.model, image_shape=(28, 28), num_classes=10, seed=3)


def branched_model() -> keras.Model:
    """Not a chain: two dropout branches added together."""
    inputs = keras.Input((784,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    left = keras.layers.Dropout(0.5, seed=1)(hidden)
    right = keras.layers.Dropout(0.3, seed=2)(hidden)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Add()([left, right]))
    return keras.Model(inputs, outputs)


def sequential_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((784,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dropout(0.5),
         keras.layers.Dense(10, activation="softmax")]
    )  # fmt: skip


MODELS = {
    "keras dropout": lambda: project_model("model.dropout.impl=keras"),
    "scratch dropout": lambda: project_model("model.dropout.impl=scratch"),
    "input dropout": lambda: project_model("model.dropout.input_rate=0.2"),
    "max-norm, 3 hidden": lambda: project_model("model.max_norm=3", "model.hidden_units=[64,32,16]"),
    "cnn, head dropout": lambda: project_model("model=cnn", "model.filters=[4,8]"),
    "cnn, spatial scratch dropout": lambda: project_model(
        "model=cnn", "model.filters=[4,8]", "model.dropout.impl=scratch", "model.feature_dropout.rate=0.3"
    ),
    "sequential": sequential_model,
    "branched (not a chain)": branched_model,
}


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    """Every pixel value occurs (300 x 784 uniform draws of 0..255)."""
    return np.random.default_rng(0).integers(0, 256, size=(300, 784), dtype=np.uint8)


@pytest.mark.parametrize("name", MODELS)
def test_mc_passes_equal_eager_whole_model_passes_bit_for_bit(name, x):
    model = MODELS[name]()
    expected = eager_passes(model, x, samples=4, seed=11)
    got = mc_dropout_passes(model, x, samples=4, seed=11, batch_size=BATCH)
    assert np.array_equal(got, expected)
    assert not np.array_equal(got[0], got[1])  # dropout really was on


@pytest.mark.parametrize(
    "name", ["keras dropout", "scratch dropout", "cnn, spatial scratch dropout", "branched (not a chain)"]
)
def test_inference_mode_equals_eager_whole_model(name, x):
    model = MODELS[name]()
    floats = as_float(x)
    expected = np.concatenate([model(floats[i : i + BATCH], training=False) for i in range(0, len(x), BATCH)])
    assert np.array_equal(predict_probs(model, x, batch_size=BATCH), expected.astype(np.float64))


def test_the_project_model_splits_before_its_first_dropout_layer():
    model = project_model()
    layers = chain_layers(model)
    assert layers is not None and [type(layer).__name__ for layer in layers][:2] == ["Dense", "Dropout"]
    assert chain_layers(branched_model()) is None


def test_the_cnn_runs_its_convolutions_once_before_its_first_dropout_layer(x):
    model = project_model("model=cnn", "model.filters=[4,8]", "model.feature_dropout.rate=0.3")
    names = [layer.name for layer in chain_layers(model)]
    forward = BatchedForward(model, x, BATCH)
    assert [layer.name for layer in forward._rest] == names[names.index("feature_dropout_1") :]


def test_no_dropout_model_is_one_deterministic_pass(x):
    model = project_model("model.dropout.rate=0")
    forward = BatchedForward(model, x, BATCH)
    assert np.array_equal(forward(training=True), forward(training=False))


def test_float_images_are_refused_rather_than_scaled_twice(x):
    with pytest.raises(TypeError, match=r"must hold uint8 pixels .* not float32"):
        predict_probs(project_model(), as_float(x))
