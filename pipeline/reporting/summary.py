"""Summarise collected runs: per (dropout rate, train size) the mean and 95% interval over seeds
of every metric, each dropout rate paired with rate 0 on the seeds both ran, the incomplete runs
apart, learning curves (mean and range over seeds) and pooled reliability bins for the plots.

A group's row counts every complete run; a pair is formed per seed (runs of one seed repeated in a
group count once, as their mean). Plain pandas over `RunResult`s, so tests build results by hand;
no MLflow, no TensorFlow; the statistics are `reporting.stats`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.environment import differences
from pipeline.evaluation.metrics import ReliabilityBins
from pipeline.reporting.collect import HISTORY_KEYS, OPTIONAL, REQUIRED, RunResult
from pipeline.reporting.finding import PAIRED, RISE, CurveFacts, Effect, curve_facts
from pipeline.reporting.stats import estimate, paired

_NO_SIZE = -1  # stands for "all training images" (train_size None) inside pandas' group keys
# Every number a row gives mean and interval of: the runs' metrics, and the relative rise of their curve.
METRICS = (*REQUIRED, *OPTIONAL, RISE)


@dataclass(frozen=True)
class Summary:
    """Table rows (one per rate and train size), the incomplete runs, what the finding reads (each
    label's curve facts, dropout against none), and what the plots draw."""

    rows: list[dict[str, Any]]
    incomplete: list[RunResult]
    histories: dict[str, pd.DataFrame]
    reliability: dict[str, ReliabilityBins]
    varies_train_size: bool
    has_mc: bool
    # Per label, the curve facts of each complete run with a history.
    curves: dict[str, list[CurveFacts]] = field(default_factory=dict)
    # Each dropout rate against rate 0 of the same train size (none without a rate-0 group).
    effects: list[Effect] = field(default_factory=list)
    # Rate 0's label when there is one train size and rate 0 ran: the finding's "net without dropout".
    baseline: str | None = None
    # Environment keys whose values differ between the complete runs, with the values seen.
    environment_differences: dict[str, list[str]] = field(default_factory=dict)


def group_label(rate: float, train_size: int | None, varies_train_size: bool) -> str:
    size = f", train size {'all' if train_size is None else train_size}" if varies_train_size else ""
    return f"rate {rate:g}{size}"


def run_values(run: RunResult) -> dict[str, float]:
    """A run's metrics, and the relative rise of its validation loss after its lowest (from its curve)."""
    values = dict(run.metrics)
    if run.history is not None and not run.history.empty:
        values[RISE] = curve_facts(run.name, run.history).rise
    return values


def _row(rate: float, train_size: int | None, runs: Sequence[RunResult]) -> dict[str, Any]:
    """Mean, sample std and 95% interval (None for a single run) of every metric over the group's runs."""
    row: dict[str, Any] = {"rate": rate, "train_size": train_size, "n": len(runs)}
    row["seeds"] = sorted({run.seed for run in runs if run.seed is not None})
    table = pd.DataFrame([run_values(run) for run in runs], columns=list(METRICS))
    for key in METRICS:
        values = table[key].dropna()
        # An optional metric only some runs have would be a biased mean: leave it out.
        row |= estimate(values if len(values) == len(runs) else []).fields(key)
    return row


def by_seed(runs: Iterable[RunResult], key: str) -> dict[int, float]:
    """`key`'s value per seed over runs that have it (a seed run twice: the mean of its runs)."""
    seen: dict[int, list[float]] = {}
    for run in runs:
        value = run_values(run).get(key)
        if run.seed is not None and value is not None:
            seen.setdefault(run.seed, []).append(value)
    return {seed: float(np.mean(values)) for seed, values in seen.items()}


def effect(label: str, baseline: str, rate: float, train_size: int | None,
           runs: Sequence[RunResult], baseline_runs: Sequence[RunResult]) -> Effect:  # fmt: skip
    """One dropout rate's runs against rate 0's, paired by seed, on each of the finding's metrics."""
    seeds = {run.seed for run in runs} & {run.seed for run in baseline_runs}
    common = {seed for seed in seeds if seed is not None}
    tests = {key: paired(by_seed(runs, key), by_seed(baseline_runs, key)) for key in PAIRED}
    return Effect(label, baseline, rate, train_size, tuple(sorted(common)), tests)


def mean_history(histories: Iterable[pd.DataFrame]) -> pd.DataFrame | None:
    """Per-epoch mean over seeds and, as `<key>_min` / `<key>_max`, the lowest and highest seed (runs
    of different length: each epoch over the runs that reached it)."""
    frames = list(histories)
    if not frames:
        return None
    combined = pd.concat([frame[["epoch", *HISTORY_KEYS]] for frame in frames])
    grouped = combined.groupby("epoch")[list(HISTORY_KEYS)]
    parts = [grouped.mean(), grouped.min().add_suffix("_min"), grouped.max().add_suffix("_max")]
    return pd.concat(parts, axis=1).reset_index()


def pooled_reliability(tables: Iterable[pd.DataFrame]) -> ReliabilityBins | None:
    """One reliability curve from several runs: per bin, counts add up and means are count-weighted."""
    frames = list(tables)
    if not frames:
        return None
    combined = pd.concat(frames)
    combined["conf_sum"] = (combined["confidence"] * combined["count"]).fillna(0.0)
    combined["acc_sum"] = (combined["accuracy"] * combined["count"]).fillna(0.0)
    pooled = combined.groupby(["lower", "upper"], as_index=False)[["conf_sum", "acc_sum", "count"]].sum()
    count = pooled["count"].to_numpy(dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ReliabilityBins(
            lower=pooled["lower"].to_numpy(dtype=float),
            upper=pooled["upper"].to_numpy(dtype=float),
            confidence=pooled["conf_sum"].to_numpy() / count,
            accuracy=pooled["acc_sum"].to_numpy() / count,
            count=count,
        )


def summarize(results: Sequence[RunResult]) -> Summary:
    """Group complete runs by (rate, train size); every group with any run gets a row (n may be 0).

    Each dropout rate is compared with rate 0 of the same train size, when that group exists."""
    index = pd.DataFrame(
        [
            {"rate": r.rate, "size": _NO_SIZE if r.train_size is None else r.train_size, "run": i}
            for i, r in enumerate(results)
            if r.rate is not None
        ],
        columns=["rate", "size", "run"],
    )
    # All-images groups first, then by size; within a size by rate.
    index = index.assign(has_size=index["size"] != _NO_SIZE).sort_values(["has_size", "size", "rate"])
    varies = bool(index["size"].nunique() > 1)
    rows, histories, reliability, curves = [], {}, {}, {}
    groups: dict[tuple[float, int | None], list[RunResult]] = {}
    for (rate, size), group in index.groupby(["rate", "size"], sort=False):
        train_size = None if size == _NO_SIZE else int(size)
        runs = [results[i] for i in group["run"] if results[i].complete]
        groups[(float(rate), train_size)] = runs
        rows.append(_row(float(rate), train_size, runs))
        label = group_label(float(rate), train_size, varies)
        with_history = [r for r in runs if r.history is not None and not r.history.empty]
        curves[label] = [curve_facts(label, r.history) for r in with_history if r.history is not None]
        history = mean_history(r.history for r in with_history)
        if history is not None:
            histories[label] = history
        pooled = pooled_reliability(r.reliability for r in runs if r.reliability is not None)
        if pooled is not None:
            reliability[label] = pooled
    effects = []
    for (rate, size), runs in groups.items():
        baseline_runs = groups.get((0.0, size))
        if rate != 0.0 and baseline_runs is not None:
            label, base = group_label(rate, size, varies), group_label(0.0, size, varies)
            effects.append(effect(label, base, rate, size, runs, baseline_runs))
    has_rate_0 = any(rate == 0.0 for rate, _ in groups)
    baseline = group_label(0.0, None, False) if has_rate_0 and not varies else None
    incomplete = [r for r in results if not r.complete]
    has_mc = any(row["mc_accuracy_mean"] is not None for row in rows)
    complete = [r.environment for r in results if r.complete and r.environment]
    return Summary(
        rows, incomplete, histories, reliability, varies, has_mc, curves, effects, baseline,
        differences(complete),
    )  # fmt: skip
