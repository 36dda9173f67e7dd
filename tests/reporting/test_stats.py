"""The statistics over seeds, on constructed numbers with known differences, against SciPy's own."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pipeline.reporting.stats import estimate, paired


def test_the_interval_is_scipys_t_interval_of_the_mean():
    values = [0.9791, 0.9787, 0.9795]
    found = estimate(values)
    expected = scipy_stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
    assert (found.n, found.mean, found.std) == (
        3,
        pytest.approx(np.mean(values)),
        pytest.approx(np.std(values, ddof=1)),
    )
    assert (found.low, found.high) == (pytest.approx(expected.low), pytest.approx(expected.high))
    assert found.half_width == pytest.approx(
        scipy_stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / math.sqrt(3)
    )


def test_one_value_has_a_mean_but_no_spread_and_no_interval():
    found = estimate([0.52])
    assert (found.n, found.mean, found.std, found.low, found.high) == (1, 0.52, None, None, None)
    assert found.half_width is None and not found.excludes_zero
    assert estimate([]).mean is None


def test_non_finite_values_are_refused_not_averaged():
    with pytest.raises(ValueError, match="non-finite"):
        estimate([0.1, math.nan])


def test_a_difference_that_is_seed_noise_gets_an_interval_that_includes_zero():
    # Test accuracy: dropout ahead on one seed, behind on two, by about as much as seeds differ.
    dropout = {1: 0.9790, 2: 0.9771, 3: 0.9779}
    none = {1: 0.9772, 2: 0.9783, 3: 0.9788}
    found = paired(dropout, none)
    assert found.n == 3
    assert found.difference.low < 0 < found.difference.high
    assert not found.difference.excludes_zero
    assert found.p_value > 0.5


def test_a_real_difference_is_found_with_its_sign():
    # The validation-loss rise: +55% to +60% without dropout, a few % with it, on every seed.
    dropout = {1: 0.05, 2: 0.02, 3: 0.08}
    none = {1: 0.57, 2: 0.55, 3: 0.60}
    found = paired(dropout, none)
    assert found.difference.mean == pytest.approx(-0.5233333)
    assert found.difference.high < 0 and found.difference.excludes_zero
    assert found.p_value < 0.01


def test_the_paired_test_is_scipys_on_the_seeds_both_ran_in_seed_order():
    # Keys in different orders, and a seed only one side has: pairs are formed by seed, not position.
    setting = {3: 0.9728, 1: 0.9731, 2: 0.9726, 9: 0.5}
    baseline = {1: 0.9793, 2: 0.9789, 3: 0.9791}
    found = paired(setting, baseline)
    a, b = [0.9731, 0.9726, 0.9728], [0.9793, 0.9789, 0.9791]
    expected = scipy_stats.ttest_rel(a, b)
    interval = expected.confidence_interval(0.95)
    assert found.seeds == (1, 2, 3)
    assert found.p_value == pytest.approx(expected.pvalue)
    assert found.difference.mean == pytest.approx(np.mean(np.subtract(a, b)))
    assert (found.difference.low, found.difference.high) == (
        pytest.approx(interval.low),
        pytest.approx(interval.high),
    )


def test_one_common_seed_gives_a_difference_but_no_interval_and_no_test():
    found = paired({42: 0.9726}, {42: 0.9766})
    assert found.seeds == (42,)
    assert found.difference.mean == pytest.approx(-0.004)
    assert (found.difference.low, found.difference.high, found.p_value) == (None, None, None)


def test_no_common_seed_gives_nothing_to_compare():
    found = paired({3: 0.97}, {1: 0.98, 2: 0.97})
    assert found.n == 0 and found.difference.mean is None and found.p_value is None


def test_the_same_difference_on_every_seed_has_no_spread_to_test():
    found = paired({1: 0.30, 2: 0.40}, {1: 0.20, 2: 0.30})
    assert found.difference.mean == pytest.approx(0.1)
    assert found.p_value is None
