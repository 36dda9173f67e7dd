"""The per-epoch metrics, each declared once: its name, what a batch adds to the epoch's running
sum, how the epoch's value is finished from that sum. The compiled training and validation steps
sum them (`pipeline.training.steps`), and the history columns, the epoch lines, the DVC metrics and
plots files, MLflow's per-epoch metrics and the report's columns all follow from `EPOCH_METRICS`.

A metric is measured on both splits: `name` on the training batches (with dropout on, as the
optimizer saw them), `val_<name>` on the validation split (dropout off). A batch's contribution is
written in TensorFlow ops, handed in as `tf`, so this file imports no TensorFlow: the report reads
the names and labels here, and must start fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.core.columns import Shown

VAL_PREFIX = "val_"
GAP = "gap"  # training minus validation accuracy, the last history column


@dataclass(frozen=True)
class Batch:
    """What a metric sees of one batch, as tensors: the int64 labels, the predicted class
    probabilities, and the batch's loss summed over its examples."""

    labels: Any
    probabilities: Any
    loss_sum: Any


def mean(total: np.float32, examples: np.float32) -> float:
    """The mean per example, divided in float32 as Keras' own metrics divide."""
    return float(total / examples)


@dataclass(frozen=True)
class EpochMetric:
    """One per-epoch metric: `add(tf, batch)` is a float32 scalar tensor added to the running sum,
    `finish(sum, examples)` the epoch's value; `short` names it in the epoch line, and `shown` puts
    its last validation value among the report's columns."""

    name: str
    short: str
    add: Callable[[Any, Batch], Any]
    finish: Callable[[np.float32, np.float32], float] = mean
    shown: Shown | None = None


def _correct(tf: Any, batch: Batch) -> Any:
    predicted = tf.argmax(batch.probabilities, axis=-1)
    return tf.reduce_sum(tf.cast(tf.equal(predicted, batch.labels), tf.float32))


EPOCH_METRICS: tuple[EpochMetric, ...] = (
    EpochMetric("loss", "loss", lambda tf, batch: batch.loss_sum),
    EpochMetric("accuracy", "acc", _correct, shown=Shown("val acc", at=2)),
)

TRAIN_KEYS = tuple(metric.name for metric in EPOCH_METRICS)
VAL_KEYS = tuple(VAL_PREFIX + metric.name for metric in EPOCH_METRICS)
# Every per-epoch key MLflow and the report read back (the curves), and the history's columns.
HISTORY_KEYS = (*TRAIN_KEYS, *VAL_KEYS)
HISTORY_COLUMNS = ["epoch", *HISTORY_KEYS, GAP]


def history_row(epoch: int, train: Mapping[str, float], val: Mapping[str, float]) -> dict[str, float]:
    """One epoch's history row (1-based `epoch`): the training values, the validation values, the gap."""
    row: dict[str, float] = {"epoch": epoch, **train}
    row |= {VAL_PREFIX + key: value for key, value in val.items()}
    row[GAP] = train["accuracy"] - val["accuracy"]
    return row


def epoch_text(row: Mapping[str, float], seconds: float) -> str:
    """`epoch 3  loss 0.1234  acc 0.9612  val_loss ...  gap +0.0123  (1.5s)`: one epoch in a line."""
    values = [f"{m.short} {row[m.name]:.4f}" for m in EPOCH_METRICS]
    values += [f"{VAL_PREFIX}{m.short} {row[VAL_PREFIX + m.name]:.4f}" for m in EPOCH_METRICS]
    return "  ".join([f"epoch {int(row['epoch'])}", *values, f"{GAP} {row[GAP]:+.4f}", f"({seconds:.1f}s)"])
