"""Training batches whose order is a pure function of (seed, epoch), so a resumed run sees the same data.

Keras' `fit(shuffle=True)` draws each epoch's order from TensorFlow's global random state, which
depends on everything the process did before: a run resumed in a new process at epoch k would see
other batches than the run that never stopped. Here epoch e's order is
`stateless_shuffle(range(n), seed=(seed, e))`, whatever ran before it.

Both pipelines here gather uint8 pixels and scale each batch (`pipeline.model.pixels.to_unit`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.model.pixels import check_pixels, to_unit

if TYPE_CHECKING:
    import tensorflow as tf


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch `epoch` (0-based) visits the `n` training examples."""
    import tensorflow as tf

    return _shuffled(tf.range(n, dtype=tf.int64), seed, tf.constant(epoch, tf.int64)).numpy()


def _shuffled(indices: tf.Tensor, seed: int, epoch: tf.Tensor) -> tf.Tensor:
    import tensorflow as tf

    return tf.random.experimental.stateless_shuffle(
        indices, seed=tf.stack([tf.constant(seed, tf.int64), epoch])
    )


class EpochBatches:
    """A `tf.data` pipeline of one epoch's batches, which epoch being set before the epoch begins.

    The arrays become tensors once (the pipeline gathers each batch from them), and Keras makes a
    new iterator of the pipeline at the start of every epoch (no `steps_per_epoch` given), which
    reads `epoch` then. `keras_callback()` sets it from Keras' own epoch number, so `fit` with an
    `initial_epoch` continues with exactly the batches an uninterrupted run would have used.
    `x` is uint8 pixels; each batch leaves the pipeline as float32 in [0, 1].
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> None:
        import tensorflow as tf

        check_pixels(x, "the training images")
        self.steps = math.ceil(len(x) / batch_size)
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="batches_epoch")
        features, labels = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
        n, epoch = len(x), self._epoch

        full, rest = divmod(n, batch_size)

        def index_batches(_: Any) -> tf.data.Dataset:
            # Whole batches as rows of one reshaped tensor: no per-example dataset element.
            order = _shuffled(tf.range(n, dtype=tf.int64), seed, epoch.read_value())
            batches = tf.data.Dataset.from_tensor_slices(
                tf.reshape(order[: full * batch_size], [full, batch_size])
            )
            if rest:
                batches = batches.concatenate(tf.data.Dataset.from_tensors(order[full * batch_size :]))
            return batches

        self.dataset = (
            tf.data.Dataset.from_tensors(0)
            .flat_map(index_batches)
            .map(
                lambda idx: (to_unit(tf.gather(features, idx)), tf.gather(labels, idx)),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
            .apply(tf.data.experimental.assert_cardinality(self.steps))
            .prefetch(tf.data.AUTOTUNE)
        )

    def set_epoch(self, epoch: int) -> None:
        self._epoch.assign(epoch)

    def keras_callback(self) -> Any:
        """A callback that tells the pipeline Keras' epoch number before each epoch's data is read."""
        import keras

        batches = self

        class SetEpoch(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                batches.set_epoch(epoch)

        return SetEpoch()


def in_order(x: Any, y: Any, batch_size: int) -> tf.data.Dataset:
    """(float32 images in [0, 1], labels) in stored order, `batch_size` at a time (the last batch
    may be short): the batches Keras makes of arrays it is given for validation, scaled per batch."""
    import tensorflow as tf

    check_pixels(x, "the validation images")
    features, labels = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    n = int(features.shape[0])
    return (
        tf.data.Dataset.range(0, n, batch_size)
        .map(
            lambda start: (to_unit(features[start : start + batch_size]), labels[start : start + batch_size]),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        .prefetch(tf.data.AUTOTUNE)
    )
