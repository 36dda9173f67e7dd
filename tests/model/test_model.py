"""`build_model`: the configured layers, deterministic weights, tiny real trainings with either dropout."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import yaml

from pipeline.core.config import ModelConfig
from pipeline.core.paths import CONF_DIR
from pipeline.model.blocks import has_dropout
from pipeline.model.layers import ScratchDropout
from pipeline.model.mlp import build_model

FEATURES, CLASSES = (20,), 3


def model_config(rate: float = 0.5, impl: str = "keras", **changes: Any) -> ModelConfig:
    """conf/model/mlp.yaml (784-128-64-10) with the given changes."""
    raw = yaml.safe_load((CONF_DIR / "model" / "mlp.yaml").read_text())
    raw["dropout"] |= {"rate": rate, "impl": impl, "input_rate": changes.pop("input_rate", 0.0)}
    return ModelConfig.model_validate(raw | changes)


def _layers(model: keras.Model) -> list[tuple[str, str]]:
    return [(layer.name, type(layer).__name__) for layer in model.layers]


def _weights(model: keras.Model) -> list[np.ndarray]:
    return model.get_weights()


def test_rate_zero_adds_no_dropout_layer() -> None:
    model = build_model(model_config(rate=0.0))
    assert _layers(model) == [
        ("inputs", "InputLayer"),
        ("hidden_1", "Dense"),
        ("hidden_2", "Dense"),
        ("output", "Dense"),
    ]
    assert [layer.units for layer in model.layers[1:]] == [128, 64, 10]
    assert model.input_shape == (None, 784) and model.output_shape == (None, 10)
    relu, softmax = keras.activations.relu, keras.activations.softmax
    assert [layer.activation for layer in model.layers[1:]] == [relu, relu, softmax]
    assert not has_dropout(model)
    assert not model.compiled  # uncompiled: training chooses optimizer and loss


@pytest.mark.parametrize(("impl", "layer_type"), [("keras", "Dropout"), ("scratch", "ScratchDropout")])
def test_dropout_follows_each_hidden_layer_in_the_configured_implementation(
    impl: str, layer_type: str
) -> None:
    model = build_model(model_config(rate=0.3, impl=impl))
    assert _layers(model) == [
        ("inputs", "InputLayer"),
        ("hidden_1", "Dense"),
        ("dropout_1", layer_type),
        ("hidden_2", "Dense"),
        ("dropout_2", layer_type),
        ("output", "Dense"),
    ]
    assert [model.get_layer(f"dropout_{i}").rate for i in (1, 2)] == [0.3, 0.3]
    assert has_dropout(model)


@pytest.mark.parametrize("impl", ["keras", "scratch"])
def test_input_rate_adds_dropout_on_the_inputs(impl: str) -> None:
    model = build_model(model_config(rate=0.0, impl=impl, input_rate=0.2))
    assert _layers(model)[:3] == [
        ("inputs", "InputLayer"),
        ("input_dropout", "ScratchDropout" if impl == "scratch" else "Dropout"),
        ("hidden_1", "Dense"),
    ]
    assert model.get_layer("input_dropout").rate == 0.2
    assert has_dropout(model)


def test_the_configured_activation_is_used_in_the_hidden_layers() -> None:
    model = build_model(model_config(activation="tanh"))
    assert model.get_layer("hidden_1").activation is keras.activations.tanh
    assert model.get_layer("hidden_2").activation is keras.activations.tanh


def test_max_norm_constrains_the_hidden_kernels_only() -> None:
    model = build_model(model_config(max_norm=3.0))
    for name in ("hidden_1", "hidden_2"):
        constraint = model.get_layer(name).kernel_constraint
        assert isinstance(constraint, keras.constraints.MaxNorm) and constraint.max_value == 3.0
    assert model.get_layer("output").kernel_constraint is None
    assert build_model(model_config()).get_layer("hidden_1").kernel_constraint is None


def test_the_same_seed_builds_the_same_weights_and_another_seed_others() -> None:
    cfg = model_config(hidden_units=[16, 8])
    first, second = build_model(cfg, FEATURES, CLASSES, seed=1), build_model(cfg, FEATURES, CLASSES, seed=1)
    for a, b in zip(_weights(first), _weights(second), strict=True):
        np.testing.assert_array_equal(a, b)
    other = build_model(cfg, FEATURES, CLASSES, seed=2)
    assert not np.array_equal(_weights(first)[0], _weights(other)[0])


def test_models_that_differ_only_in_dropout_start_from_the_same_weights() -> None:
    plain = build_model(model_config(rate=0.0, hidden_units=[16, 8]), FEATURES, CLASSES, seed=3)
    dropped = build_model(
        model_config(rate=0.5, impl="scratch", input_rate=0.2, hidden_units=[16, 8]),
        FEATURES,
        CLASSES,
        seed=3,
    )
    for name in ("hidden_1", "hidden_2", "output"):
        for a, b in zip(
            plain.get_layer(name).get_weights(), dropped.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("impl", ["keras", "scratch"])
def test_each_dropout_layer_has_its_own_seed(impl: str) -> None:
    model = build_model(model_config(rate=0.5, impl=impl, input_rate=0.2), seed=0)
    seeds = [layer.seed for layer in model.layers if "dropout" in layer.name]
    assert len(seeds) == 3 and len(set(seeds)) == 3
    again = build_model(model_config(rate=0.5, impl=impl, input_rate=0.2), seed=0)
    assert seeds == [layer.seed for layer in again.layers if "dropout" in layer.name]


def test_has_dropout_ignores_a_dropout_layer_of_rate_zero() -> None:
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dropout(0.0), ScratchDropout(0.0), keras.layers.Dense(2)]
    )
    assert not has_dropout(model)


def _separable_data(n: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian clusters in FEATURES dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(CLASSES, *FEATURES))
    y = np.arange(n) % CLASSES
    x = centres[y] + rng.normal(size=(n, *FEATURES))
    return x.astype("float32"), y


def _fit(impl: str, epochs: int = 5) -> tuple[keras.Model, list[float]]:
    keras.utils.set_random_seed(0)
    model = build_model(model_config(rate=0.3, impl=impl, hidden_units=[32, 16]), FEATURES, CLASSES, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    x, y = _separable_data()
    history = model.fit(x, y, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    return model, history.history["loss"]


@pytest.mark.parametrize("impl", ["keras", "scratch"])
def test_a_tiny_training_learns_with_either_dropout(impl: str) -> None:
    _, losses = _fit(impl)
    assert losses[-1] < 0.5 * losses[0]


def test_a_seeded_training_with_scratch_dropout_repeats_exactly() -> None:
    assert _fit("scratch", epochs=2)[1] == _fit("scratch", epochs=2)[1]


def test_a_saved_model_with_scratch_dropout_loads_and_predicts_the_same(tmp_path: Path) -> None:
    model, _ = _fit("scratch", epochs=1)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")

    restored = loaded.get_layer("dropout_1")
    assert isinstance(restored, ScratchDropout)
    assert restored.get_config() == model.get_layer("dropout_1").get_config()
    x, _ = _separable_data(n=64, seed=1)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
