"""Statistics over seeds: a mean with its 95% interval, and a paired comparison of two settings.

Pure functions on per-run numbers (no MLflow, no files, no pandas), shared by the comparison, its
finding and the paper report, so every report states its uncertainty the same way.

- **Interval**: the two-sided 95% t-interval of the mean, mean ± t(0.975, n - 1) · s / √n, s the
  sample standard deviation. The other usual choice, a bootstrap, has only 10 distinct resamples of
  3 seeds and is known to be too narrow with so few. The t-interval assumes roughly normal values,
  which 3 seeds cannot check: read it as an honest scale of the seed-to-seed spread, not an exact
  coverage. Fewer than 2 values: no interval.
- **Paired test**: the per-seed differences of two settings (same seed = same initial weights and
  batch order, so what the seed shares cancels), their mean with its t-interval, and the two-sided
  paired t-test (`scipy.stats.ttest_rel`). Not an exact permutation (sign-flip) test: it needs no
  normality but has only 2^n outcomes, so its smallest two-sided p-value is 2 / 2^n (0.25 with 3
  seeds) and below 6 seeds it could never reach 0.05. Fewer than 2 common seeds: no interval, no
  test; differences equal on every seed have no spread to test against: no p-value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
INTERVAL = "95% t-interval of the mean over n seeds: mean ± t(0.975, n - 1) · s / √n, s the sample std"
TEST = "two-sided paired t-test on the per-seed differences (scipy.stats.ttest_rel)"
# Differences closer than this are the same number (the runs' metrics carry 6 decimals).
_SAME = 1e-12


@dataclass(frozen=True)
class Estimate:
    """The mean of `n` values and its 95% interval; `std` is the sample std (ddof = 1).

    n = 0: nothing; n = 1: the mean alone (no spread, so no std and no interval)."""

    n: int
    mean: float | None = None
    std: float | None = None
    low: float | None = None
    high: float | None = None

    @property
    def half_width(self) -> float | None:
        """How far the interval reaches either side of the mean (it is symmetric)."""
        return None if self.mean is None or self.high is None else self.high - self.mean

    def fields(self, prefix: str) -> dict[str, float | None]:
        """`<prefix>_mean`, `_std`, `_low`, `_high`: how the report's JSON and rows hold it."""
        return {f"{prefix}_mean": self.mean, f"{prefix}_std": self.std, f"{prefix}_low": self.low,
                f"{prefix}_high": self.high}  # fmt: skip

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of 0 (never, without an interval)."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def estimate(values: Iterable[float]) -> Estimate:
    """Mean, sample std and 95% t-interval of finite numbers (one per seed)."""
    data = np.asarray(list(values), dtype=np.float64)
    if not np.all(np.isfinite(data)):
        raise ValueError(f"estimate of non-finite values: {data.tolist()}")
    n = len(data)
    if n == 0:
        return Estimate(0)
    mean = float(data.mean())
    if n == 1:
        return Estimate(1, mean)
    std = float(data.std(ddof=1))
    half = float(stats.t.ppf((1 + CONFIDENCE) / 2, n - 1)) * std / math.sqrt(n)
    return Estimate(n, mean, std, mean - half, mean + half)


@dataclass(frozen=True)
class Paired:
    """A setting against a baseline on the seeds both ran: the per-seed differences (setting minus
    baseline) as an `Estimate`, and the paired t-test's p-value when there is one."""

    seeds: tuple[int, ...]
    difference: Estimate
    p_value: float | None

    @property
    def n(self) -> int:
        return len(self.seeds)


def paired(setting: Mapping[int, float], baseline: Mapping[int, float]) -> Paired:
    """Compare two settings' values (keyed by seed) on their common seeds; other seeds are left out."""
    seeds = tuple(sorted(set(setting) & set(baseline)))
    a = np.array([setting[seed] for seed in seeds], dtype=np.float64)
    b = np.array([baseline[seed] for seed in seeds], dtype=np.float64)
    differences = a - b
    p_value = None
    if len(seeds) >= 2 and np.ptp(differences) > _SAME:
        p_value = float(stats.ttest_rel(a, b).pvalue)
    return Paired(seeds, estimate(differences), p_value)
