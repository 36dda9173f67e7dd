"""The configured Adam updates through TensorFlow's fused kernel: Adam's arithmetic (to float32
rounding), Adam's state, and a plain Keras Adam in the saved model."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from pipeline.training.recipe import build_optimizer
from tests.helpers.training_fixtures import tiny_settings_with


def _steps(optimizer: keras.optimizers.Optimizer, steps: int = 5) -> tuple[np.ndarray, keras.Variable]:
    variable = keras.Variable(np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4))
    optimizer.build([variable])
    rng = np.random.default_rng(0)
    for _ in range(steps):
        optimizer.apply([tf.constant(rng.normal(size=(3, 4)).astype("float32"))], [variable])
    return variable.numpy(), variable


def test_fused_adam_follows_keras_adam_to_float32_rounding():
    cfg = tiny_settings_with("train.optimizer=adam", "train.learning_rate=0.01").train
    fused = build_optimizer(cfg, epoch_steps=10)
    fused_values, _ = _steps(fused)
    keras_values, _ = _steps(keras.optimizers.Adam(learning_rate=0.01))
    moved = np.abs(keras_values - np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4))
    assert moved.min() > 0 and moved.max() > 0.01  # five steps moved every weight...
    np.testing.assert_allclose(fused_values, keras_values, rtol=0, atol=1e-6)  # ...the same way
    assert int(fused.iterations.numpy()) == 5
    assert np.abs(fused._momentums[0].numpy()).max() > 0 and fused._velocities[0].numpy().min() > 0


def test_the_saved_optimizer_is_a_plain_keras_adam(tmp_path):
    cfg = tiny_settings_with("train.optimizer=adam").train
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer=build_optimizer(cfg, epoch_steps=1), loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.zeros((8, 2), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is keras.optimizers.Adam
    assert int(loaded.optimizer.iterations.numpy()) == 1


def test_other_optimizers_are_keras_own():
    sgd = build_optimizer(tiny_settings_with("train.optimizer=sgd", "train.momentum=0.9").train, 1)
    assert "_backend_update_step" not in vars(sgd)
