"""The numbers of an evaluation, in plain NumPy (no TensorFlow), so each can be checked by hand.

`probs` is an (N, C) array of predicted class probabilities, `labels` an (N,) array of int classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Keras clips probabilities the same way in its cross-entropy, so `nll` matches the training loss.
EPSILON = 1e-7


def accuracy(probs: ArrayLike, labels: ArrayLike) -> float:
    """Fraction of samples whose most probable class is the true one."""
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels)))


def nll(probs: ArrayLike, labels: ArrayLike, eps: float = EPSILON) -> float:
    """Mean negative log-likelihood of the true class (the cross-entropy loss), in nats.

    Probabilities are clipped to [eps, 1] so one confident mistake cannot make it infinite.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    true_class = probs[np.arange(len(labels)), labels]
    return float(np.mean(-np.log(np.clip(true_class, eps, 1.0))))


@dataclass(frozen=True)
class ReliabilityBins:
    """Per confidence bin: mean confidence, accuracy and sample count (NaN where a bin is empty)."""

    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    confidence: NDArray[np.float64]
    accuracy: NDArray[np.float64]
    count: NDArray[np.int64]

    def ece(self) -> float:
        """Count-weighted mean of |accuracy - confidence| over the non-empty bins."""
        filled = self.count > 0
        weights = self.count[filled] / self.count.sum()
        return float(np.sum(weights * np.abs(self.accuracy[filled] - self.confidence[filled])))


def reliability_bins(probs: ArrayLike, labels: ArrayLike, bins: int = 15) -> ReliabilityBins:
    """Group samples by confidence (max probability) into equal-width bins (lo, hi] over [0, 1].

    This is the binning of Guo et al. (2017), "On Calibration of Modern Neural Networks".
    """
    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(labels)).astype(np.float64)
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / count
        mean_accuracy = np.bincount(index, weights=correct, minlength=bins) / count
    edges = np.linspace(0.0, 1.0, bins + 1)
    return ReliabilityBins(edges[:-1], edges[1:], mean_confidence, mean_accuracy, count)


def ece(probs: ArrayLike, labels: ArrayLike, bins: int = 15) -> float:
    """Expected calibration error: how far confidence is from accuracy, on average over samples."""
    return reliability_bins(probs, labels, bins).ece()


def confusion_matrix(predicted: ArrayLike, labels: ArrayLike, num_classes: int) -> NDArray[np.int64]:
    """Counts with rows = true class, columns = predicted class."""
    flat = np.asarray(labels) * num_classes + np.asarray(predicted)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(predicted: ArrayLike, labels: ArrayLike, num_classes: int) -> NDArray[np.float64]:
    """Accuracy (recall) of each true class; NaN for a class with no samples."""
    matrix = confusion_matrix(predicted, labels, num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diagonal(matrix) / matrix.sum(axis=1)


def predictive_entropy(probs: ArrayLike) -> float:
    """Mean entropy (nats) of the predictive distribution: 0 = certain, log(C) = uniform."""
    probs = np.asarray(probs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probs > 0, probs * np.log(probs), 0.0)
    return float(np.mean(-terms.sum(axis=1)))


def best_epoch(val_loss: ArrayLike) -> int:
    """The 1-based epoch of the lowest validation loss (the first one, on ties)."""
    return int(np.argmin(np.asarray(val_loss))) + 1


def val_loss_rise(val_loss: ArrayLike) -> float:
    """How far the final validation loss is above its minimum: 0 when it never rose (no overfitting)."""
    values = np.asarray(val_loss, dtype=np.float64)
    return float(values[-1] - values.min())


def overfitting_gap(train_accuracy: float, test_accuracy: float) -> float:
    """Train minus test accuracy: how much of what the model learned does not generalize."""
    return float(train_accuracy) - float(test_accuracy)


def mc_error_curve(passes: ArrayLike, labels: ArrayLike, ks: list[int]) -> list[float]:
    """Error of the average of the first k stochastic passes, for each k (Srivastava et al.'s Fig. 11).

    `passes` is (samples, N, C); a running sum gives every k from one pass over the array.
    """
    passes = np.asarray(passes, dtype=np.float64)
    running = np.cumsum(passes, axis=0)
    return [1.0 - accuracy(running[k - 1] / k, labels) for k in ks]
