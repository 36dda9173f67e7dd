"""The dropout comparison (the `compare` stage and `python -m pipeline.report`): tables and figures.

One table row per dropout rate (and train size, when that varies): train/validation/test accuracy,
overfitting gap, best epoch, calibration; mean ± std over seeds with the number of runs behind it.
Runs that crashed, still run or lack a metric are listed as incomplete, never averaged in.

Sources: the DVC outputs (`metrics/`, `plots/`) when run as the `compare` stage (or with
`report.source=dvc`), MLflow runs otherwise: `report.parent_run_id=<id>` (one sweep),
`report.experiment=<name>` (every training run of an experiment), default the latest sweep.
`reporting.collect` gathers the runs, `reporting.summary` summarises them, this module writes.
No TensorFlow import.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.atomic import write_json_atomic, write_text_atomic
from pipeline.core.config import Settings
from pipeline.core.errors import UserError
from pipeline.core.paths import project_path
from pipeline.evaluation.plots import (
    RATE_LABEL,
    gap_and_accuracy_vs_rate,
    learning_curves,
    reliability_diagram,
    save_figure,
)
from pipeline.process.launch import Launch
from pipeline.reporting.collect import (
    OPTIONAL,
    REQUIRED,
    RunResult,
    collect_dvc,
    collect_mlflow,
    latest_sweep,
)
from pipeline.reporting.finding import curve_facts, finding_markdown, verdict
from pipeline.reporting.summary import Summary, summarize
from pipeline.tracking import groups
from pipeline.tracking.store import Store
from pipeline.tracking.tags import TAG_SWEEP

log = logging.getLogger(__name__)

COLUMNS = {
    "train_accuracy": ("train acc", 4),
    "val_accuracy": ("val acc", 4),
    "test_accuracy": ("test acc", 4),
    "overfit_gap": ("gap (train - test)", 4),
    "best_epoch": ("best epoch", 1),
    "val_loss_rise": ("val loss rise", 4),
    "test_ece": ("test ECE", 4),
    "test_nll": ("test NLL", 4),
    "mc_accuracy": ("MC test acc", 4),
    "mc_ece": ("MC ECE", 4),
}
REPORT_ARTIFACT_DIR = "report"
FIGURES = {
    "learning_curves.png": "Learning curves (train solid, validation dashed; mean over seeds)",
    "gap_vs_rate.png": "Overfitting gap and accuracy against the dropout rate",
    "reliability.png": "Reliability diagram (test set, pooled over seeds)",
}


def _cell(mean: float | None, std: float | None, digits: int) -> str:
    if mean is None:
        return "—"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(summary: Summary) -> str:
    keys = [*REQUIRED, *(OPTIONAL if summary.has_mc else ())]
    head = ["dropout rate", *(["train size"] if summary.varies_train_size else []), "runs"]
    head += [COLUMNS[key][0] for key in keys]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in summary.rows:
        cells = [f"{row['rate']:g}"]
        if summary.varies_train_size:
            cells.append("all" if row["train_size"] is None else str(row["train_size"]))
        cells.append(str(row["n"]))
        cells += [_cell(row[f"{k}_mean"], row[f"{k}_std"], COLUMNS[k][1]) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _incomplete_section(incomplete: Sequence[RunResult]) -> str:
    if not incomplete:
        return "All runs are complete."
    lines = [
        "Not averaged in (crashed, still running, or without evaluation metrics):",
        "",
        "| run | dropout rate | seed | status | missing metrics |",
        "|---|---|---|---|---|",
    ]
    for run in incomplete:
        rate = "?" if run.rate is None else f"{run.rate:g}"
        seed = "?" if run.seed is None else str(run.seed)
        missing = ", ".join(run.missing) or "—"
        lines.append(f"| {run.name} | {rate} | {seed} | {run.status} | {missing} |")
    return "\n".join(lines)


def _environment_warning(found: Mapping[str, list[str]]) -> str:
    """A warning when the compared runs ran in different environments (their numbers may differ
    in the last digits for that reason alone), else nothing."""
    if not found:
        return ""
    lines = [f"- {key}: {', '.join(repr(v) for v in values)}" for key, values in found.items()]
    return (
        "**Warning: these runs come from different environments**, so part of their differences may "
        "come from it rather than from dropout:\n\n" + "\n".join(lines) + "\n\n"
    )


def write_figures(summary: Summary, out_dir: Path) -> list[str]:
    """The report's PNGs; return the names of those there was data for."""
    written = []
    if summary.histories:
        fig = learning_curves(summary.histories, legend_title=RATE_LABEL)
        save_figure(fig, out_dir / "learning_curves.png")
        written.append("learning_curves.png")
    if any(row["n"] for row in summary.rows):
        save_figure(gap_and_accuracy_vs_rate(summary.rows), out_dir / "gap_vs_rate.png")
        written.append("gap_vs_rate.png")
    if summary.reliability:
        save_figure(reliability_diagram(summary.reliability), out_dir / "reliability.png")
        written.append("reliability.png")
    return written


def learning_curves_table(histories: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Long format (epoch, series, split, loss): what DVC's learning_curves template colours by series."""
    parts = [
        pd.DataFrame({"epoch": h["epoch"], "series": label, "split": split, "loss": h[column]})
        for label, h in histories.items()
        for split, column in (("train", "loss"), ("validation", "val_loss"))
    ]
    return pd.concat(parts) if parts else pd.DataFrame(columns=["epoch", "series", "split", "loss"])


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def write_report(summary: Summary, out_dir: Path, source: str) -> Path:
    """comparison.md, comparison.json, learning_curves.csv and the PNGs into `out_dir`."""
    figures = write_figures(summary, out_dir)
    images = "\n\n".join(f"![{FIGURES[name]}]({name})" for name in figures) or "No complete run to plot."
    text = f"""# Dropout comparison

Source: {source}.

{_environment_warning(summary.environment_differences)}{finding_markdown(summary.histories)}
## Every rate at its last epoch

The dropout rate is the probability of DROPPING a unit (Keras' convention; the paper's p = 1 - rate is
the probability of keeping it). Each row: mean ± sample std over seeds, `runs` = complete runs behind
it. Train accuracy is measured with dropout off on the whole training split; the gap is train minus
test accuracy; best epoch = epoch of lowest validation loss, and val loss rise = how far it climbed after.
ECE = expected calibration error (confidence vs accuracy, test set), NLL = test negative log-likelihood.
MC = Monte-Carlo dropout (mean of stochastic passes; — where a model has no dropout or MC is off).

{markdown_table(summary)}

## Incomplete runs

{_incomplete_section(summary.incomplete)}

## Plots

{images}
"""
    report = out_dir / "comparison.md"
    write_text_atomic(report, text)
    incomplete = [
        {"name": r.name, "rate": r.rate, "seed": r.seed, "train_size": r.train_size, "status": r.status,
         "missing": r.missing}
        for r in summary.incomplete
    ]  # fmt: skip
    rows = [{k: _json_safe(v) for k, v in row.items()} for row in summary.rows]
    facts = [curve_facts(label, history) for label, history in summary.histories.items()]
    finding = {
        "verdict": verdict(facts) if facts else None,
        "curves": [asdict(f) | {"rise": f.rise} for f in facts],
    }
    write_json_atomic(
        out_dir / "comparison.json",
        {"source": source, "finding": finding, "rows": rows, "incomplete": incomplete},
    )
    curves = learning_curves_table(summary.histories)
    write_text_atomic(out_dir / "learning_curves.csv", curves.to_csv(index=False, float_format="%.6f"))
    return report


# ---------------------------------------------------------------- entry points


def _sweep_out_dir(settings: Settings, store: Store, parent_run_id: str) -> Path:
    if settings.report.out_dir:
        return project_path(settings.report.out_dir)
    sweep_id = store.run(parent_run_id).tags.get(TAG_SWEEP)
    return project_path("reports", f"sweep_{sweep_id}" if sweep_id else f"run_{parent_run_id}")


def _require(results: Sequence[RunResult], where: str) -> None:
    if not results:
        raise UserError(f"no training runs in {where}: nothing to compare")


def build_report(settings: Settings, parent_run_id: str) -> Path:
    """The report of one sweep, written to disk and logged as artifacts of its parent run."""
    store = Store.open(settings.tracking)
    results = collect_mlflow(store, parent_run_id=parent_run_id)
    _require(results, f"MLflow sweep {parent_run_id}")
    out_dir = _sweep_out_dir(settings, store, parent_run_id)
    report = write_report(summarize(results), out_dir, f"MLflow sweep, parent run `{parent_run_id}`")
    store.log_folder(parent_run_id, out_dir, REPORT_ARTIFACT_DIR)
    return report


def report_from_dvc(settings: Settings, launch: Launch) -> Path:
    """The `compare` stage: the DVC matrix outputs of the rates in params.yaml's sweep.rates.

    When this DVC invocation's trainings were grouped under an MLflow parent run, the report is
    logged there too, as a sweep's report is on its parent.
    """
    results = collect_dvc(
        project_path(), settings.sweep.rates, seed=settings.train.seed, train_size=settings.data.train_size
    )
    out_dir = project_path(settings.report.out_dir or "reports")
    report = write_report(summarize(results), out_dir, "DVC pipeline outputs (`metrics/`, `plots/`)")
    if launch.dvc_invocation:
        store = Store.open(settings.tracking)
        experiment = settings.tracking.experiment
        group = launch.parent_run_id or groups.find_dvc_group(store, experiment, launch.dvc_invocation)
        if group:
            store.log_folder(group, out_dir, REPORT_ARTIFACT_DIR)
    return report


def report_from_mlflow(settings: Settings) -> Path:
    """A chosen sweep, every training run of an experiment, or (default) the latest sweep."""
    store = Store.open(settings.tracking)
    chosen = settings.report
    if chosen.parent_run_id is None and chosen.experiment is not None:
        results = collect_mlflow(store, experiment=chosen.experiment)
        _require(results, f"MLflow experiment {chosen.experiment!r}")
        out_dir = project_path(chosen.out_dir or f"reports/experiment_{chosen.experiment}")
        source = f"every training run of MLflow experiment `{chosen.experiment}`"
        return write_report(summarize(results), out_dir, source)
    parent = chosen.parent_run_id or latest_sweep(store, settings.tracking.experiment)
    return build_report(settings, parent)


def use_dvc(settings: Settings, launch: Launch) -> bool:
    """`auto`: DVC stages run with params.yaml as their config; interactive runs compose conf/."""
    if settings.report.source != "auto":
        return settings.report.source == "dvc"
    return launch.under_dvc
