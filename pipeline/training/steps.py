"""Training and validation steps compiled into TensorFlow functions that each run many batches.

An epoch here is a few calls into TensorFlow (`train.steps_per_execution` optimizer steps each); each
call is one graph that gathers every batch from the training tensors in the epoch's order, scales
it, runs the model forward and backward, applies the optimizer's (fused) update and adds what the
batch contributes to each per-epoch metric (`pipeline.training.epoch_metrics`) to running sums. The
metrics are those sums finished once per call, not metric objects updated per step: per-step work
is what a small net's epoch is made of.

Pixels are scaled by a divisor passed in as an argument, never a constant: on a constant, graph
optimisation turns the division into a multiplication by 1/255, which rounds differently from
`pipeline.model.pixels.to_unit` (the scaling every other reader of the data uses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.model.pixels import PIXEL_MAX, check_pixels
from pipeline.training.epoch_metrics import EPOCH_METRICS, Batch

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

# Validation runs without dropout, so its batch size changes no number but the summation order;
# larger batches are fewer steps.
VALIDATION_BATCH = 1000


@dataclass(frozen=True)
class Sums:
    """Running float32 sums over batches, one per per-epoch metric (`EPOCH_METRICS`' order), and
    of examples. Each metric finishes its epoch's value from its sum, as Keras' metrics do."""

    totals: tuple[np.float32, ...]
    examples: np.float32

    def values(self) -> dict[str, float]:
        """Each metric's value over the batches summed so far, by name."""
        pairs = zip(EPOCH_METRICS, self.totals, strict=True)
        return {metric.name: metric.finish(total, self.examples) for metric, total in pairs}


NO_SUMS = Sums(tuple(np.float32(0) for _ in EPOCH_METRICS), np.float32(0))


class CompiledSteps:
    """The model's training and validation steps on one dataset, traced once, called per chunk."""

    def __init__(self, model: keras.Model, x: Any, y: Any, batch_size: int) -> None:
        import keras
        import tensorflow as tf

        check_pixels(x, "the training images")
        self.model = model
        self.batch_size = batch_size
        self.examples = int(x.shape[0])
        self.steps = math.ceil(self.examples / batch_size)
        self.full_batches = self.examples // batch_size
        self._x, self._y = tf.convert_to_tensor(x), tf.cast(tf.convert_to_tensor(y), tf.int64)
        self._divisor = tf.constant(PIXEL_MAX, tf.float32)
        self._loss = keras.losses.SparseCategoricalCrossentropy()
        model.optimizer.build(model.trainable_variables)
        self._train = tf.function(self._train_chunk)
        self._validate = tf.function(self._validation_sums)

    def train(self, order: tf.Tensor, first: int, last: int, sums: Sums = NO_SUMS) -> Sums:
        """Optimizer steps `first`..`last - 1` of the epoch whose example order is `order`, adding
        to `sums` (one running sum over the epoch, as if it were one call)."""
        import tensorflow as tf

        # Whole batches and the short last one are traced apart: each then has a static shape, and
        # the graph optimiser folds away the shape arithmetic a dynamic batch size costs every step.
        # Examples are counted here (batch sizes are known before the steps run): one value fewer
        # for the loop to carry.
        for start, stop, short in (
            (first, min(last, self.full_batches), False),
            (self.full_batches, last, True),
        ):
            if start < stop:
                totals = self._train(order, tf.constant(start), tf.constant(stop), self._divisor,
                                     sums.totals, short=short)  # fmt: skip
                seen = min(stop * self.batch_size, self.examples) - start * self.batch_size
                sums = Sums(tuple(t.numpy() for t in totals), sums.examples + np.float32(seen))
        return sums

    def validate(self, x: Any, y: Any) -> Sums:
        """Loss and correct predictions summed over a split, without dropout."""
        import tensorflow as tf

        check_pixels(x, "the validation images")
        x, y = tf.convert_to_tensor(x), tf.cast(tf.convert_to_tensor(y), tf.int64)
        totals, examples = self._validate(x, y, self._divisor)
        return Sums(tuple(t.numpy() for t in totals), examples.numpy())

    def batch(self, order: tf.Tensor, index: int) -> tuple[tf.Tensor, tf.Tensor]:
        """Batch `index` of the epoch whose order is `order`: (float32 pixels in [0, 1], labels),
        made by the same graph code as the training steps'."""
        import tensorflow as tf

        short = index >= self.full_batches
        return tf.function(self._batch_of)(order, tf.constant(index), self._divisor, short=short)

    def _batch_of(
        self, order: tf.Tensor, index: tf.Tensor, divisor: tf.Tensor, short: bool
    ) -> tuple[Any, Any]:
        """Whole batch `index`, or (`short`) the remainder after the whole batches."""
        import tensorflow as tf

        size, whole = self.batch_size, self.full_batches * self.batch_size
        rows = order[whole:] if short else tf.reshape(order[:whole], [self.full_batches, size])[index]
        return tf.cast(tf.gather(self._x, rows), tf.float32) / divisor, tf.gather(self._y, rows)

    def _train_chunk(self, order: tf.Tensor, first: tf.Tensor, last: tf.Tensor, divisor: tf.Tensor,
                     totals: tuple[tf.Tensor, ...], short: bool) -> Any:  # fmt: skip
        import tensorflow as tf

        model = self.model
        variables = model.trainable_variables

        def step(i: tf.Tensor, *totals: tf.Tensor) -> Any:
            x, y = self._batch_of(order, i, divisor, short)
            with tf.GradientTape() as tape:
                probabilities = model(x, training=True)
                loss = self._loss(y, probabilities)
                if model.losses:
                    loss += tf.add_n(model.losses)
            model.optimizer.apply(tape.gradient(loss, variables), variables)
            count = tf.cast(tf.shape(y)[0], tf.float32)
            return i + 1, *_added(totals, Batch(y, probabilities, loss * count))

        _, *totals = tf.while_loop(lambda i, *_: i < last, step, (first, *totals))
        return totals

    def _validation_sums(self, x: tf.Tensor, y: tf.Tensor, divisor: tf.Tensor) -> Any:
        import keras
        import tensorflow as tf

        n = tf.shape(x)[0]

        def step(start: tf.Tensor, *totals: tf.Tensor) -> Any:
            batch_x = tf.cast(x[start : start + VALIDATION_BATCH], tf.float32) / divisor
            batch_y = y[start : start + VALIDATION_BATCH]
            probabilities = self.model(batch_x, training=False)
            losses = keras.losses.sparse_categorical_crossentropy(batch_y, probabilities)
            batch = Batch(batch_y, probabilities, tf.reduce_sum(losses))
            return start + VALIDATION_BATCH, *_added(totals, batch)

        zeros = tuple(tf.constant(0.0) for _ in EPOCH_METRICS)
        _, *totals = tf.while_loop(lambda start, *_: start < n, step, (tf.constant(0), *zeros))
        return totals, tf.cast(n, tf.float32)


def _added(totals: tuple[tf.Tensor, ...], batch: Batch) -> list[tf.Tensor]:
    """Each metric's running sum plus what this batch adds to it."""
    import tensorflow as tf

    return [total + metric.add(tf, batch) for total, metric in zip(totals, EPOCH_METRICS, strict=True)]
