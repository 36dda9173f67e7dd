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


def group_label(rate: float, train_size: int | None, varies_train_size: bool, variant: str = "") -> str:
    """`rate 0.5`, with the train size when sizes vary; with other dropout rates that vary (the
    `variant`), each rate named by its key: `dropout.rate 0.5, feature_dropout.rate 0.2`."""
    size = f", train size {'all' if train_size is None else train_size}" if varies_train_size else ""
    return f"dropout.rate {rate:g}, {variant}{size}" if variant else f"rate {rate:g}{size}"


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


Variant = tuple[float, ...]  # a run's values of the other dropout rates that vary among the runs


def varying_rates(results: Sequence[RunResult]) -> list[str]:
    """The other dropout rates (`RunResult.dropout`'s keys) whose value differs between runs; an
    absent key counts as 0 (a model without that dropout)."""
    keys = sorted({key for r in results for key in r.dropout})
    return [key for key in keys if len({r.dropout.get(key, 0.0) for r in results if r.rate is not None}) > 1]


def variant_text(keys: Sequence[str], variant: Variant) -> str:
    """`feature_dropout.rate 0.2`: the config keys (without `model.`) and their values."""
    return ", ".join(
        f"{key.removeprefix('model.')} {value:g}" for key, value in zip(keys, variant, strict=True)
    )


def summarize(results: Sequence[RunResult]) -> Summary:
    """Group complete runs by (rate, train size, the other dropout rates where they differ); every
    group with any run gets a row (n may be 0).

    Each group is compared with the one without any dropout of the same train size, when it exists."""
    keys = varying_rates(results)
    variants = {i: tuple(r.dropout.get(key, 0.0) for key in keys) for i, r in enumerate(results)}
    index = pd.DataFrame(
        [
            {
                "rate": r.rate,
                "size": _NO_SIZE if r.train_size is None else r.train_size,
                "variant": variants[i],
                "run": i,
            }
            for i, r in enumerate(results)
            if r.rate is not None
        ],
        columns=["rate", "size", "variant", "run"],
    )
    # All-images groups first, then by size; within a size by rate, then by the other rates.
    index = index.assign(has_size=index["size"] != _NO_SIZE).sort_values(
        ["has_size", "size", "rate", "variant"]
    )
    varies = bool(index["size"].nunique() > 1)
    none: Variant = tuple(0.0 for _ in keys)

    def label_of(rate: float, size: int | None, variant: Variant) -> str:
        if not keys:
            return group_label(rate, size, varies)
        return (
            group_label(rate, size, varies)
            .replace("rate", "dropout.rate", 1)
            .replace(f"{rate:g}", f"{rate:g}, {variant_text(keys, variant)}", 1)
        )

    rows, histories, reliability, curves = [], {}, {}, {}
    groups: dict[tuple[float, int | None, Variant], list[RunResult]] = {}
    for (rate, size, variant), group in index.groupby(["rate", "size", "variant"], sort=False):
        train_size = None if size == _NO_SIZE else int(size)
        runs = [results[i] for i in group["run"] if results[i].complete]
        groups[(float(rate), train_size, variant)] = runs
        row = _row(float(rate), train_size, runs)
        if keys:
            row["variant"] = variant_text(keys, variant)
        rows.append(row)
        label = label_of(float(rate), train_size, variant)
        with_history = [r for r in runs if r.history is not None and not r.history.empty]
        curves[label] = [curve_facts(label, r.history) for r in with_history if r.history is not None]
        history = mean_history(r.history for r in with_history)
        if history is not None:
            histories[label] = history
        pooled = pooled_reliability(r.reliability for r in runs if r.reliability is not None)
        if pooled is not None:
            reliability[label] = pooled
    effects = []
    for (rate, size, variant), runs in groups.items():
        baseline_runs = groups.get((0.0, size, none))
        if (rate, variant) != (0.0, none) and baseline_runs is not None:
            label, base = label_of(rate, size, variant), label_of(0.0, size, none)
            effects.append(effect(label, base, rate, size, runs, baseline_runs))
    has_none = any(rate == 0.0 and variant == none for rate, _, variant in groups)
    baseline = label_of(0.0, None, none) if has_none and not varies else None
    incomplete = [r for r in results if not r.complete]
    has_mc = any(row["mc_accuracy_mean"] is not None for row in rows)
    complete = [r.environment for r in results if r.complete and r.environment]
    return Summary(
        rows, incomplete, histories, reliability, varies, has_mc, curves, effects, baseline,
        differences(complete),
    )  # fmt: skip
