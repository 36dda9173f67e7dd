"""What DVC shows of the comparison: one summary per dropout rate as the pipeline's only metrics file
(`dvc metrics show`, `dvc exp show`: the mean and 95% interval bounds over seeds of the headline
numbers), and test accuracy per class and rate as a plot (`dvc plots show`).

Each run's own files stay outputs of its stages, out of `dvc exp show`'s columns: a column per run
and metric would bury the comparison. No TensorFlow, no MLflow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core.atomic import write_text_atomic
from pipeline.reporting.finding import RISE
from pipeline.reporting.summary import Summary

# The numbers summarised per rate: test accuracy and NLL, and how far the validation loss rose after
# its lowest (relative to it): what dropout buys, and what it costs.
HEADLINE = ("test_accuracy", "test_nll", RISE)
BOUNDS = ("mean", "low", "high")
DECIMALS = 6  # as the runs' own metrics
PER_CLASS = "per_class_accuracy"  # the key of an evaluation's JSON


def rate_key(rate: float) -> str:
    """A rate's key in the summary, as the runs' own files name it (`rate_0.5`)."""
    return f"rate_{float(rate)}"


def _rounded(value: float | None) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), DECIMALS)


def summary_metrics(summary: Summary) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per rate, each headline number's mean and 95% interval bounds over the rate's complete runs
    (null without a run; one run gives no interval). Rows are per rate: DVC's pipeline has one train
    size."""
    return {
        rate_key(row["rate"]): {
            key: {bound: _rounded(row[f"{key}_{bound}"]) for bound in BOUNDS} for key in HEADLINE
        }
        for row in summary.rows
    }


def per_class_accuracy(evaluations: Mapping[float, Sequence[Path]]) -> pd.DataFrame:
    """Test accuracy per class and rate, the mean over the rate's runs, read from their evaluation
    JSON files: one row per rate and class (long format, as the DVC template reads it)."""
    rows = []
    for rate, files in evaluations.items():
        per_run = pd.DataFrame([json.loads(path.read_text())[PER_CLASS] for path in files])
        rows += [
            {"class": name, "series": f"rate {rate:g}", "accuracy": per_run[name].mean()}
            for name in per_run.columns
        ]
    return pd.DataFrame(rows, columns=["class", "series", "accuracy"])


def write_dvc_summary(
    summary: Summary,
    evaluations: Mapping[float, Sequence[Path]],
    metrics_file: Path,
    per_class_file: Path,
) -> None:
    """The summary metrics JSON, and the per-class accuracy CSV of the complete runs' `evaluations`
    (per rate, their evaluation files)."""
    # In the summary's own order (rates as swept; mean, low, high), which DVC's columns follow.
    write_text_atomic(metrics_file, json.dumps(summary_metrics(summary), indent=2) + "\n")
    table = per_class_accuracy(evaluations)
    write_text_atomic(per_class_file, table.to_csv(index=False, float_format="%.6f"))
