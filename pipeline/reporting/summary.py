"""Summarise collected runs: one row per (dropout rate, train size), mean ± std over seeds, the
incomplete runs apart, mean learning curves and pooled reliability bins for the plots.

Plain pandas over `RunResult`s, so tests build results by hand; no MLflow, no TensorFlow.
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

_NO_SIZE = -1  # stands for "all training images" (train_size None) inside pandas' group keys


@dataclass(frozen=True)
class Summary:
    """Table rows (one per rate and train size), the incomplete runs, and what the plots draw."""

    rows: list[dict[str, Any]]
    incomplete: list[RunResult]
    histories: dict[str, pd.DataFrame]
    reliability: dict[str, ReliabilityBins]
    varies_train_size: bool
    has_mc: bool
    # Environment keys whose values differ between the complete runs, with the values seen.
    environment_differences: dict[str, list[str]] = field(default_factory=dict)


def group_label(rate: float, train_size: int | None, varies_train_size: bool) -> str:
    size = f", train size {'all' if train_size is None else train_size}" if varies_train_size else ""
    return f"rate {rate:g}{size}"


def _none_if_nan(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _row(rate: float, train_size: int | None, runs: Sequence[RunResult]) -> dict[str, Any]:
    """Mean and sample std (ddof=1; None for a single run) of every metric over the group's runs."""
    row: dict[str, Any] = {"rate": rate, "train_size": train_size, "n": len(runs)}
    row["seeds"] = sorted({run.seed for run in runs if run.seed is not None})
    table = pd.DataFrame([dict(run.metrics) for run in runs], columns=[*REQUIRED, *OPTIONAL])
    for key in (*REQUIRED, *OPTIONAL):
        values = table[key].dropna()
        # An optional metric only some runs have would be a biased mean: leave it out.
        full = len(values) == len(runs) and len(values) > 0
        row[f"{key}_mean"] = float(values.mean()) if full else None
        row[f"{key}_std"] = _none_if_nan(float(values.std(ddof=1))) if full and len(values) > 1 else None
    return row


def mean_history(histories: Iterable[pd.DataFrame]) -> pd.DataFrame | None:
    """Per-epoch mean over seeds (runs of different length: each epoch over the runs that reached it)."""
    frames = list(histories)
    if not frames:
        return None
    combined = pd.concat([frame[["epoch", *HISTORY_KEYS]] for frame in frames])
    return combined.groupby("epoch", as_index=False).mean()


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
    """Group complete runs by (rate, train size); every group with any run gets a row (n may be 0)."""
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
    varies = index["size"].nunique() > 1
    rows, histories, reliability = [], {}, {}
    for (rate, size), group in index.groupby(["rate", "size"], sort=False):
        train_size = None if size == _NO_SIZE else int(size)
        runs = [results[i] for i in group["run"] if results[i].complete]
        rows.append(_row(float(rate), train_size, runs))
        label = group_label(float(rate), train_size, varies)
        history = mean_history(r.history for r in runs if r.history is not None)
        if history is not None:
            histories[label] = history
        pooled = pooled_reliability(r.reliability for r in runs if r.reliability is not None)
        if pooled is not None:
            reliability[label] = pooled
    incomplete = [r for r in results if not r.complete]
    has_mc = any(row["mc_accuracy_mean"] is not None for row in rows)
    complete = [r.environment for r in results if r.complete and r.environment]
    return Summary(rows, incomplete, histories, reliability, bool(varies), has_mc, differences(complete))
