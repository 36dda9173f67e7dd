"""Metric functions against cases small enough to compute by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.evaluation import metrics

# Four samples, two classes. Confidence (max prob) 0.9, 0.75, 0.65, 0.55; right, wrong, right, wrong.
PROBS = np.array([[0.9, 0.1], [0.75, 0.25], [0.35, 0.65], [0.55, 0.45]])
LABELS = np.array([0, 1, 1, 1])


def test_ece_on_a_hand_example():
    # 5 bins of width 0.2: (0.8, 1] holds 0.9 (acc 1): |1 - 0.9| = 0.1;
    # (0.6, 0.8] holds 0.75 and 0.65 (acc 0.5, conf 0.7): 0.2; (0.4, 0.6] holds 0.55 (acc 0): 0.55.
    expected = (1 * 0.1 + 2 * 0.2 + 1 * 0.55) / 4
    assert metrics.ece(PROBS, LABELS, bins=5) == pytest.approx(expected)


def test_ece_is_zero_when_confidence_matches_accuracy():
    probs = np.tile([0.7, 0.3], (10, 1))
    labels = np.array([0] * 7 + [1] * 3)  # 70% right at 70% confidence
    assert metrics.ece(probs, labels, bins=15) == pytest.approx(0.0, abs=1e-12)
    assert metrics.ece(np.eye(3), np.arange(3)) == pytest.approx(0.0)


def test_ece_is_large_for_confident_mistakes():
    assert metrics.ece(np.array([[0.99, 0.01]] * 4), np.ones(4, dtype=int)) == pytest.approx(0.99)


def test_reliability_bins_count_every_sample_once_and_mark_empty_bins():
    bins = metrics.reliability_bins(PROBS, LABELS, bins=5)
    assert bins.count.tolist() == [0, 0, 1, 2, 1]
    assert np.isnan(bins.accuracy[0]) and np.isnan(bins.confidence[1])
    assert bins.confidence[3] == pytest.approx(0.7)
    assert bins.accuracy[3] == pytest.approx(0.5)
    assert bins.lower[3] == pytest.approx(0.6) and bins.upper[3] == pytest.approx(0.8)


def test_nll_is_the_mean_negative_log_probability_of_the_true_class():
    probs = np.array([[0.5, 0.5], [0.25, 0.75]])
    assert metrics.nll(probs, [0, 1]) == pytest.approx(-(math.log(0.5) + math.log(0.75)) / 2)


def test_nll_stays_finite_for_a_zero_probability():
    assert metrics.nll(np.array([[1.0, 0.0]]), [1]) == pytest.approx(-math.log(metrics.EPSILON))


def test_accuracy():
    assert metrics.accuracy(PROBS, LABELS) == pytest.approx(0.5)


def test_confusion_matrix_rows_are_true_classes():
    matrix = metrics.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], num_classes=3)
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_per_class_accuracy_and_an_absent_class():
    values = metrics.per_class_accuracy([0, 1, 1, 2], [0, 1, 2, 2], num_classes=4)
    assert values[:3].tolist() == [1.0, 1.0, 0.5]
    assert np.isnan(values[3])


def test_predictive_entropy_is_log_c_for_uniform_and_zero_for_certain():
    assert metrics.predictive_entropy(np.full((1, 4), 0.25)) == pytest.approx(math.log(4))
    assert metrics.predictive_entropy(np.eye(4)) == pytest.approx(0.0)
    assert metrics.predictive_entropy(np.array([[0.25] * 4, [1, 0, 0, 0]])) == pytest.approx(math.log(4) / 2)


def test_best_epoch_is_one_based_and_takes_the_first_minimum():
    assert metrics.best_epoch([0.5, 0.3, 0.3, 0.4]) == 2
    assert metrics.best_epoch([0.9, 0.8, 0.7]) == 3


def test_val_loss_rise_is_final_minus_minimum():
    assert metrics.val_loss_rise([0.5, 0.3, 0.35, 0.4]) == pytest.approx(0.1)
    assert metrics.val_loss_rise([0.9, 0.8, 0.7]) == 0.0


def test_overfitting_gap_is_train_minus_test():
    assert metrics.overfitting_gap(0.99, 0.97) == pytest.approx(0.02)
    assert metrics.overfitting_gap(0.90, 0.92) == pytest.approx(-0.02)


def test_reliability_bins_are_closed_on_the_right():
    # (0, 0.5] and (0.5, 1]: a confidence of exactly 0.5 belongs to the first bin, 1.0 to the last.
    bins = metrics.reliability_bins(np.array([[0.5, 0.5], [1.0, 0.0]]), [0, 0], bins=2)
    assert bins.count.tolist() == [1, 1]
