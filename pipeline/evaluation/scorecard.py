"""Every number an evaluation writes about one model, each declared once: its key, the function
that computes it, and its label in the comparison report. `pipeline.evaluation.scoring` computes
them all into the metrics file and MLflow; the report shows every one that has a label, in order,
and lists a run without one of them as incomplete (the Monte-Carlo ones aside, which only models
with dropout have).

A function takes `Scored`: the test set's probabilities and labels, the training split's, the
learning curves, the evaluation config and, for MC metrics, the mean of the Monte-Carlo passes.
Plain NumPy (`pipeline.evaluation.metrics`): no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.columns import Shown
from pipeline.core.config import EvalConfig
from pipeline.evaluation import metrics


@dataclass(frozen=True)
class Scored:
    """What the metrics are computed from: float64 probabilities (N, classes) and int labels of the
    test set and of the training split (predicted with dropout off), the per-epoch history, and
    `mc`, the mean of the MC-dropout passes over the test set (None without them)."""

    probs: np.ndarray
    labels: np.ndarray
    train_probs: np.ndarray
    train_labels: np.ndarray
    history: pd.DataFrame
    eval_cfg: EvalConfig
    mc: np.ndarray | None = None


@dataclass(frozen=True)
class TestMetric:
    """One test metric: `compute(scored)` gives its value; `shown` makes it a column of the report;
    `mc` marks a metric of the Monte-Carlo prediction (computed only when there are MC passes)."""

    __test__ = False  # a declaration, not a pytest class

    key: str
    compute: Callable[[Scored], float]
    shown: Shown | None = None
    mc: bool = False


def _train_accuracy(s: Scored) -> float:
    return metrics.accuracy(s.train_probs, s.train_labels)


def _test_accuracy(s: Scored) -> float:
    return metrics.accuracy(s.probs, s.labels)


def _test_ece(s: Scored) -> float:
    return metrics.ece(s.probs, s.labels, s.eval_cfg.ece_bins)


def _best_epoch(s: Scored) -> float:
    return metrics.best_epoch(s.history["val_loss"])


def _mc(s: Scored) -> np.ndarray:
    assert s.mc is not None, "an MC metric needs the MC passes"
    return s.mc


def _mc_accuracy(s: Scored) -> float:
    return metrics.accuracy(_mc(s), s.labels)


def _mc_ece(s: Scored) -> float:
    return metrics.ece(_mc(s), s.labels, s.eval_cfg.ece_bins)


TEST_METRICS: tuple[TestMetric, ...] = (
    # The training loss (cross-entropy) on the test set; for these models it is the NLL.
    TestMetric("test_loss", lambda s: metrics.nll(s.probs, s.labels)),
    TestMetric("test_nll", lambda s: metrics.nll(s.probs, s.labels), Shown("test NLL", at=8)),
    TestMetric("test_accuracy", _test_accuracy, Shown("test acc", at=3)),
    TestMetric("test_ece", _test_ece, Shown("test ECE", at=7)),
    TestMetric("test_entropy", lambda s: metrics.predictive_entropy(s.probs)),
    # Measured again in inference mode on the whole training split: the history's running mean
    # over an epoch with dropout active understates it.
    TestMetric("train_accuracy", _train_accuracy, Shown("train acc", at=1)),
    TestMetric("train_accuracy_running", lambda s: float(s.history["accuracy"].iloc[-1])),
    TestMetric(
        "overfit_gap",
        lambda s: metrics.overfitting_gap(_train_accuracy(s), _test_accuracy(s)),
        Shown("gap (train - test)", at=4),
    ),
    TestMetric("best_epoch", _best_epoch, Shown("best epoch", ".1f", at=5)),
    TestMetric("best_val_loss", lambda s: float(s.history["val_loss"].min())),
    # The report shows the rise relative to the lowest loss here (it reads it from the curves).
    TestMetric(
        "val_loss_rise",
        lambda s: metrics.val_loss_rise(s.history["val_loss"]),
        Shown("val loss rise after best", "pct", at=6),
    ),
    TestMetric("mc_accuracy", _mc_accuracy, Shown("MC test acc", at=9), mc=True),
    TestMetric("mc_nll", lambda s: metrics.nll(_mc(s), s.labels), mc=True),
    TestMetric("mc_ece", _mc_ece, Shown("MC ECE", at=10), mc=True),
    TestMetric("mc_entropy", lambda s: metrics.predictive_entropy(_mc(s)), mc=True),
)


def scores(scored: Scored) -> dict[str, float]:
    """Every declared metric of `scored` (the MC ones only when it has MC passes), by key."""
    return {m.key: m.compute(scored) for m in TEST_METRICS if scored.mc is not None or not m.mc}
