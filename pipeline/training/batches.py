"""Training batches whose order is a pure function of (seed, epoch), so a resumed run sees the same data.

Keras' `fit(shuffle=True)` draws each epoch's order from TensorFlow's global random state, which
depends on everything the process did before: a run resumed in a new process at epoch k would see
other batches than the run that never stopped. Here epoch e's order is
`stateless_shuffle(range(n), seed=(seed, e))`, whatever ran before it; batch b of the epoch is the
examples at positions b*batch_size .. (b+1)*batch_size - 1 of that order (the last batch holds the rest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf


def order_tensor(n: int, seed: int, epoch: int) -> tf.Tensor:
    """The order in which epoch `epoch` (0-based) visits the `n` training examples, as a tensor."""
    import tensorflow as tf

    seed_pair = tf.stack([tf.constant(seed, tf.int64), tf.constant(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=seed_pair)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The same order as a NumPy array."""
    return order_tensor(n, seed, epoch).numpy()
