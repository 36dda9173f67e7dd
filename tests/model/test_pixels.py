"""uint8 pixels scaled per batch give the model exactly the float32 values earlier versions stored,
so training, validation and evaluation give the same numbers, bit for bit."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline.model.mlp import build_model
from pipeline.model.pixels import to_unit
from pipeline.training.batches import epoch_order, order_tensor
from pipeline.training.loop import build_and_fit, compile_model, configure_runtime
from pipeline.training.recipe import steps_per_epoch
from pipeline.training.steps import VALIDATION_BATCH, CompiledSteps
from tests.helpers.training_fixtures import as_float, make_tiny_data, tiny_settings_with

EVERY_VALUE = np.arange(256, dtype=np.uint8).reshape(16, 16)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype == np.float32 and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def test_to_unit_is_numpys_float32_division_for_every_pixel_value():
    expected = as_float(EVERY_VALUE)
    assert same_bits(to_unit(tf.constant(EVERY_VALUE)).numpy(), expected)
    in_pipeline = tf.data.Dataset.from_tensors(tf.constant(EVERY_VALUE)).map(to_unit)
    assert same_bits(next(iter(in_pipeline)).numpy(), expected)
    # A multiplication by 1/255 would not pass: it rounds some values differently.
    assert not same_bits(EVERY_VALUE.astype(np.float32) * np.float32(1 / 255), expected)


def _steps(data, batch_size: int) -> CompiledSteps:
    settings = tiny_settings_with(f"train.batch_size={batch_size}")
    model = build_model(settings.model, image_shape=(28, 28), num_classes=10, seed=0)
    compile_model(model, settings.train)
    return CompiledSteps(model, data.x_train, data.y_train, batch_size)


def test_training_batches_are_the_float32_arrays_batches_bit_for_bit():
    data = make_tiny_data(n_train=100, n_val=10, n_test=10)
    floats = as_float(data.x_train)
    steps = _steps(data, batch_size=16)
    assert steps.steps == 7
    for epoch in (0, 1):
        order = epoch_order(len(floats), seed=3, epoch=epoch)
        for k in range(steps.steps):
            x, y = (t.numpy() for t in steps.batch(order_tensor(len(floats), 3, epoch), k))
            rows = order[16 * k : 16 * (k + 1)]
            assert len(rows) == (16 if k < 6 else 4)
            assert same_bits(x, floats[rows]) and np.array_equal(y, data.y_train[rows])


def test_refuses_float_images_rather_than_scaling_them_twice():
    data = make_tiny_data(n_train=10, n_val=10, n_test=10)
    steps = _steps(data, batch_size=4)
    with pytest.raises(TypeError, match=r"training images must hold uint8 pixels .* not float32"):
        CompiledSteps(steps.model, as_float(data.x_train), data.y_train, 4)
    with pytest.raises(TypeError, match="validation images must hold uint8 pixels"):
        steps.validate(as_float(data.x_val), data.y_val)


def _compiled_model(overrides: tuple[str, ...], epoch_steps: int) -> keras.Model:
    settings = tiny_settings_with(*overrides)
    configure_runtime(settings.train)
    model = build_model(settings.model, image_shape=(28, 28), num_classes=10, seed=settings.train.seed)
    compile_model(model, settings.train, epoch_steps)
    return model


def reference_training(data, overrides: tuple[str, ...]) -> tuple[list[np.ndarray], list[dict[str, float]]]:
    """Keras' own `fit` on float32 arrays in each epoch's order (pipeline.training.batches.epoch_order),
    validating on the float32 arrays in batches of the compiled steps' validation batch size."""
    settings = tiny_settings_with(*overrides)
    cfg = settings.train
    model = _compiled_model(overrides, steps_per_epoch(len(data.x_train), cfg.batch_size))
    x_train, x_val = as_float(data.x_train), as_float(data.x_val)
    rows = []
    for epoch in range(cfg.epochs):
        order = epoch_order(len(x_train), cfg.seed, epoch)
        fitted = model.fit(
            x_train[order], data.y_train[order], batch_size=cfg.batch_size, epochs=epoch + 1,
            initial_epoch=epoch, shuffle=False, validation_data=(x_val, data.y_val),
            validation_batch_size=VALIDATION_BATCH, verbose=0,
        )  # fmt: skip
        rows.append({key: float(values[-1]) for key, values in fitted.history.items()})
    return model.get_weights(), rows


@pytest.mark.parametrize("overrides", [("model.dropout.rate=0.5",), ("model.dropout.input_rate=0.2",)])
def test_training_on_uint8_pixels_equals_training_on_float32_arrays(overrides: tuple[str, ...]):
    """The compiled steps on uint8 pixels train exactly as Keras' `fit` does on float32 arrays: same
    weights and the same history to the last bit (the tiny config: 3 epochs, 330 images)."""
    data = make_tiny_data(n_train=330)  # 330 = 20 batches of 16 and a short one of 10
    expected_weights, expected_rows = reference_training(data, overrides)
    result = build_and_fit(tiny_settings_with(*overrides), data)
    weights = result.model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(weights, expected_weights, strict=True))
    for row, expected in zip(result.history.to_dict("records"), expected_rows, strict=True):
        assert {key: row[key] for key in expected} == expected
