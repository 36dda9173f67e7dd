"""The batch order is a pure function of (seed, epoch), also inside the compiled training steps."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from pipeline.data.processed import ProcessedData
from pipeline.training.batches import epoch_order
from pipeline.training.loop import compile_model, fit
from tests.helpers.training_fixtures import tiny_settings_with


def test_the_order_depends_on_seed_and_epoch_only():
    first = epoch_order(100, seed=3, epoch=2)
    assert np.array_equal(first, epoch_order(100, seed=3, epoch=2))
    assert sorted(first) == list(range(100))
    assert not np.array_equal(first, epoch_order(100, seed=3, epoch=1))
    assert not np.array_equal(first, epoch_order(100, seed=4, epoch=2))


def test_fit_sees_each_epochs_order_from_any_initial_epoch():
    """Each example's first pixel is its index, and a layer records the indices the model is fed
    (inside the compiled steps), so the record shows which examples each batch held."""
    n, batch_size, seed = 50, 8, 5
    x = np.zeros((n, 784), dtype=np.uint8)
    x[:, 0] = np.arange(n)
    y = np.arange(n, dtype="int64") % 10
    seen: list[np.ndarray] = []

    def record(pixels: tf.Tensor) -> tf.Tensor:
        seen.append(np.rint(pixels.numpy()[:, 0] * 255).astype(int))
        return pixels

    class Recorder(keras.layers.Layer):
        def call(self, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
            if training:
                same = tf.py_function(record, [inputs], tf.float32)
                return tf.ensure_shape(same, inputs.shape)
            return inputs

    inputs = keras.Input((784,))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(Recorder()(inputs)))
    settings = tiny_settings_with(f"train.batch_size={batch_size}", f"train.seed={seed}", "train.epochs=4",
                                  "train.steps_per_execution=3")  # fmt: skip
    compile_model(model, settings.train)
    data = ProcessedData(x, y, x[:10], y[:10], x[:10], y[:10], fingerprint="indices", name="indices")
    done = [{"epoch": 1, "loss": 0.0, "accuracy": 0.0, "val_loss": 0.0, "val_accuracy": 0.0, "gap": 0.0}]
    result = fit(model, data, settings.train, done=done)

    assert list(result.history["epoch"]) == [1, 2, 3, 4]
    assert [len(b) for b in seen[:7]] == [8] * 6 + [2] and len(seen) == 21
    for offset in range(3):
        epoch = np.concatenate(seen[offset * 7 : (offset + 1) * 7])
        assert np.array_equal(epoch, epoch_order(n, seed, epoch=1 + offset))
