"""The batch order is a pure function of (seed, epoch), also inside Keras' `fit`."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from pipeline.training.batches import EpochBatches, epoch_order


def test_the_order_depends_on_seed_and_epoch_only():
    first = epoch_order(100, seed=3, epoch=2)
    assert np.array_equal(first, epoch_order(100, seed=3, epoch=2))
    assert sorted(first) == list(range(100))
    assert not np.array_equal(first, epoch_order(100, seed=3, epoch=1))
    assert not np.array_equal(first, epoch_order(100, seed=4, epoch=2))


def test_fit_sees_each_epochs_order_from_any_initial_epoch():
    """Labels are the example indices, so recording them shows which examples each batch held."""
    n, batch_size, seed = 50, 8, 5
    x = np.random.default_rng(0).integers(0, 256, size=(n, 3), dtype=np.uint8)
    y = np.arange(n, dtype="int64")
    seen: list[np.ndarray] = []

    def record(labels: tf.Tensor) -> tf.Tensor:
        seen.append(labels.numpy())
        return labels

    def recording(features: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        same = tf.py_function(record, [labels], tf.int64)
        return features, tf.ensure_shape(same, labels.shape)

    batches = EpochBatches(x, y, batch_size, seed)
    recorded = batches.dataset.map(recording)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(n, activation="softmax")(inputs))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", steps_per_execution=3)
    model.fit(
        recorded, shuffle=False, epochs=4, initial_epoch=1, callbacks=[batches.keras_callback()], verbose=0
    )

    assert batches.steps == 7 and [len(b) for b in seen[:7]] == [8] * 6 + [2]
    per_epoch = [np.concatenate(seen[i * 7 : (i + 1) * 7]) for i in range(3)]
    assert len(seen) == 21
    for offset, order in enumerate(per_epoch):
        assert np.array_equal(order, epoch_order(n, seed, epoch=1 + offset))
