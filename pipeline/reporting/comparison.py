"""The dropout comparison (the `compare` stage and `python -m pipeline.report`): tables and figures.

One table row per dropout rate (and train size, when that varies): train/validation/test accuracy,
overfitting gap, best epoch, validation-loss rise, calibration; mean and 95% interval over seeds
with the number of runs behind it; then each dropout rate against rate 0, paired by seed. Runs that
crashed, still run or lack a metric are listed as incomplete, never averaged in.

Sources: the DVC outputs (`metrics/`, `plots/`) when run as the `compare` stage (or with
`report.source=dvc`), MLflow runs otherwise: `report.parent_run_id=<id>` (one sweep),
`report.experiment=<name>` (every training run of an experiment), default the latest sweep.
`reporting.collect` gathers the runs, `reporting.summary` summarises them, this module writes.
No TensorFlow import.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.atomic import write_json_atomic, write_text_atomic
from pipeline.core.config import Settings
from pipeline.core.errors import UserError
from pipeline.core.layout import item_files
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
    SHOWN,
    RunResult,
    collect_dvc,
    collect_mlflow,
    latest_sweep,
)
from pipeline.reporting.dvc_summary import write_dvc_summary
from pipeline.reporting.finding import (
    PAIRED,
    RISE,
    curve_estimates,
    effect_sentences,
    estimate_cell,
    finding_markdown,
    p_value_text,
    verdict,
)
from pipeline.reporting.stats import INTERVAL, TEST, Estimate
from pipeline.reporting.summary import Summary, summarize
from pipeline.tracking import groups
from pipeline.tracking.store import Store
from pipeline.tracking.tags import TAG_SWEEP

log = logging.getLogger(__name__)

# The runs' absolute rise (val_loss_rise) is in the JSON; its column shows the relative one, as the
# finding does.
SHOWN_AS = {"val_loss_rise": RISE}
# The table's columns, as the metrics declare them: (header, format; `pct` = a signed percentage).
COLUMNS = {SHOWN_AS.get(key, key): (shown.label, shown.fmt) for key, shown in SHOWN.items()}
MC_COLUMNS = OPTIONAL
REPORT_ARTIFACT_DIR = "report"
# The compare stage's files for DVC (dvc.yaml): its metrics, beside the runs' own files, and a plot.
SUMMARY_METRICS = Path("metrics", "summary.json")
PER_CLASS_CSV = "per_class_accuracy.csv"
FIGURES = {
    "learning_curves.png": "Learning curves (train solid, validation dashed; mean over seeds, shaded "
    "from the lowest to the highest seed)",
    "gap_vs_rate.png": "Overfitting gap and accuracy against the dropout rate (bars: 95% interval of the "
    "mean over seeds)",
    "reliability.png": "Reliability diagram (test set, pooled over seeds)",
}


def row_estimate(row: dict[str, Any], key: str) -> Estimate:
    """One metric of a summary row as the `Estimate` it was made from."""
    return Estimate(row["n"], row[f"{key}_mean"], row[f"{key}_std"], row[f"{key}_low"], row[f"{key}_high"])


def markdown_table(summary: Summary) -> str:
    keys = [key for key in COLUMNS if summary.has_mc or key not in MC_COLUMNS]
    variants = any("variant" in row for row in summary.rows)
    head = ["dropout rate", *(["other dropout"] if variants else [])]
    head += [*(["train size"] if summary.varies_train_size else []), "runs"]
    head += [COLUMNS[key][0] for key in keys]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in summary.rows:
        cells = [f"{row['rate']:g}", *([row.get("variant", "")] if variants else [])]
        if summary.varies_train_size:
            cells.append("all" if row["train_size"] is None else str(row["train_size"]))
        cells.append(str(row["n"]))
        cells += [estimate_cell(row_estimate(row, k), COLUMNS[k][1]) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _beyond_spread(found: Estimate, n: int) -> str:
    if n < 2:
        return "cannot tell (one seed)"
    assert found.mean is not None
    if not found.excludes_zero:
        return "no"
    return "yes: lower" if found.mean < 0 else "yes: higher"


def paired_table(summary: Summary) -> str:
    """Each dropout rate minus rate 0, per metric: the difference, its interval, the test, the seeds."""
    if not summary.effects:
        why = effect_sentences(summary.curves, [], summary.baseline)
        return why[0] if why else "Only one dropout rate: nothing to pair."
    lines = [
        "| dropout rate | metric | seeds | difference | 95% interval | p | beyond the seed spread? |",
        "|---|---|---|---|---|---|---|",
    ]
    for effect in summary.effects:
        for key, test in effect.tests.items():
            measure, found = PAIRED[key], test.difference
            cells = [effect.label.removeprefix("rate "), measure.name, str(test.n)]
            if found.mean is None:
                cells += ["no seed in common", "—", "—", "—"]
            else:
                interval = "—" if found.low is None or found.high is None else (
                    f"{measure.text(found.low)} to {measure.text(found.high)}"
                )  # fmt: skip
                p = "—" if test.p_value is None else p_value_text(test.p_value)
                cells += [
                    f"{measure.text(found.mean)}{measure.unit}",
                    interval,
                    p,
                    _beyond_spread(found, test.n),
                ]
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


def finding_json(summary: Summary) -> dict[str, Any]:
    """The finding as comparison.json holds it: the verdict, the sentence per dropout rate, and per
    label the mean, std and interval of each column of the finding's table."""
    curves = {label: facts for label, facts in summary.curves.items() if facts}
    rows = []
    for label, facts in curves.items():
        row: dict[str, Any] = {"label": label, "runs": len(facts)}
        for name, found in curve_estimates(facts).items():
            row |= found.fields(name)
        rows.append(row)
    return {
        "verdict": verdict(curves, summary.baseline) if curves else None,
        "effects": effect_sentences(curves, summary.effects, summary.baseline),
        "curves": rows,
    }


def paired_json(summary: Summary) -> list[dict[str, Any]]:
    """Every dropout rate against rate 0, per metric: the seeds, the difference, its interval, p."""
    return [
        {
            "label": effect.label,
            "rate": effect.rate,
            "train_size": effect.train_size,
            "against": effect.baseline,
            "metric": key,
            "seeds": list(test.seeds),
            "n": test.n,
            "difference": test.difference.mean,
            "low": test.difference.low,
            "high": test.difference.high,
            "p_value": test.p_value,
        }
        for effect in summary.effects
        for key, test in effect.tests.items()
    ]


def _seeds_line(summary: Summary) -> str:
    counts = sorted({row["n"] for row in summary.rows})
    if not counts:
        return "No run with a dropout rate."
    seeds = sorted({seed for row in summary.rows for seed in row["seeds"]})
    runs = str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    listed = f" (seed{'s' if len(seeds) > 1 else ''} {', '.join(str(s) for s in seeds)})" if seeds else ""
    return f"Complete runs per rate: {runs}{listed}."


def write_report(summary: Summary, out_dir: Path, source: str) -> Path:
    """comparison.md, comparison.json, learning_curves.csv and the PNGs into `out_dir`."""
    figures = write_figures(summary, out_dir)
    images = "\n\n".join(f"![{FIGURES[name]}]({name})" for name in figures) or "No complete run to plot."
    finding = finding_markdown(summary.curves, summary.effects, summary.baseline)
    text = f"""# Dropout comparison

Source: {source}. {_seeds_line(summary)}

{_environment_warning(summary.environment_differences)}{finding}
## Dropout against none, paired by seed

Each dropout rate minus rate 0 (of the same train size), on the seeds both ran: one seed gives both
nets the same initial weights and batch order, so each seed's difference is what dropout changed.
Test accuracy and the validation-loss rise differ in percentage points. Beyond the seed spread =
the 95% interval of the mean difference excludes 0; one seed gives no interval and no test.

- interval: {INTERVAL}; here n seeds' differences
- p: {TEST}; not corrected for the number of comparisons

{paired_table(summary)}

## Every rate at its last epoch

The dropout rate is the probability of DROPPING a unit (Keras' convention; the paper's p = 1 - rate is
the probability of keeping it). Each cell: the mean over seeds ± the half-width of its 95% interval
(one run: its value alone); `runs` = complete runs behind it. Train accuracy is measured with
dropout off on the whole training split; the gap is train minus test accuracy; best epoch = epoch
of lowest validation loss, and val loss rise = how far it climbed after, relative to its lowest.
ECE = expected calibration error (confidence vs accuracy, test set), NLL = test negative
log-likelihood. MC = Monte-Carlo dropout (mean of stochastic passes; — where a model has no dropout
or MC is off).

- interval: {INTERVAL}

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
    statistics = {"interval": INTERVAL, "test": TEST, "curves": FIGURES["learning_curves.png"]}
    write_json_atomic(
        out_dir / "comparison.json",
        {"source": source, "statistics": statistics, "finding": finding_json(summary),
         "paired": paired_json(summary), "rows": rows, "incomplete": incomplete},
    )  # fmt: skip
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
    """The `compare` stage: the DVC matrix outputs of params.yaml's sweep.rates x sweep.seeds, and
    what DVC shows of them (`reporting.dvc_summary`).

    When this DVC invocation's trainings were grouped under an MLflow parent run, the report is
    logged there too, as a sweep's report is on its parent.
    """
    sweep, root = settings.sweep, project_path()
    results = collect_dvc(root, sweep.rates, sweep.seeds, train_size=settings.data.train_size)
    out_dir = project_path(settings.report.out_dir or "reports")
    summary = summarize(results)
    report = write_report(summary, out_dir, "DVC pipeline outputs (`metrics/`, `plots/`)")
    evaluations: dict[float, list[Path]] = {rate: [] for rate in sweep.rates}
    for run in results:
        if run.complete and run.rate is not None and run.seed is not None:
            evaluations[run.rate].append(item_files(run.rate, run.seed, root).eval_metrics)
    write_dvc_summary(summary, evaluations, root / SUMMARY_METRICS, out_dir / PER_CLASS_CSV)
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
