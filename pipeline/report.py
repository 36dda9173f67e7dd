"""The dropout comparison: `python -m pipeline.report` (Hydra app; DVC stage `compare`).

One table row per dropout rate (and train size, when that varies): train/validation/test accuracy,
overfitting gap, best epoch, calibration; mean ± std over seeds with the number of runs behind it.
Runs that crashed, still run or lack a metric are listed as incomplete, never averaged in.

Sources: the DVC outputs (`metrics/`, `plots/`) when run as the `compare` stage (or with
`report.source=dvc`), MLflow runs otherwise: `report.parent_run_id=<id>` (one sweep),
`report.experiment=<name>` (every training run of an experiment), default the latest sweep.
No TensorFlow import.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pipeline import tracking
from pipeline.atomic import write_json_atomic, write_text_atomic
from pipeline.config import CONF_DIR, Settings, load_settings, project_path
from pipeline.errors import UserError, reported_as_exit
from pipeline.metrics import ReliabilityBins
from pipeline.plots import (
    RATE_LABEL,
    gap_and_accuracy_vs_rate,
    learning_curves,
    reliability_diagram,
    save_figure,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

log = logging.getLogger(__name__)

# Every complete run has these; a run without one of them is listed as incomplete.
REQUIRED = (
    "train_accuracy",
    "val_accuracy",
    "test_accuracy",
    "overfit_gap",
    "best_epoch",
    "val_loss_rise",
    "test_ece",
    "test_nll",
)
# Only models with dropout have Monte-Carlo numbers (and only when eval.mc_samples > 0).
OPTIONAL = ("mc_accuracy", "mc_ece")
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
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
RELIABILITY_ARTIFACT = "eval/reliability.csv"
REPORT_ARTIFACT_DIR = "report"
FIGURES = {
    "learning_curves.png": "Learning curves (train solid, validation dashed; mean over seeds)",
    "gap_vs_rate.png": "Overfitting gap and accuracy against the dropout rate",
    "reliability.png": "Reliability diagram (test set, pooled over seeds)",
}


@dataclass(frozen=True)
class RunResult:
    """One training run as the report sees it, whatever the source."""

    name: str  # MLflow run id, or the DVC matrix label (rate_0.2)
    rate: float | None
    seed: int | None
    train_size: int | None
    status: str  # MLflow's FINISHED / FAILED / KILLED / RUNNING, or MISSING (no DVC outputs)
    metrics: Mapping[str, float] = field(default_factory=dict)
    history: pd.DataFrame | None = None
    reliability: pd.DataFrame | None = None

    @property
    def missing(self) -> list[str]:
        return [key for key in REQUIRED if key not in self.metrics]

    @property
    def complete(self) -> bool:
        return self.status == "FINISHED" and self.rate is not None and not self.missing


@dataclass(frozen=True)
class Summary:
    """Table rows (one per rate and train size), the incomplete runs, and what the plots draw."""

    rows: list[dict[str, Any]]
    incomplete: list[RunResult]
    histories: dict[str, pd.DataFrame]
    reliability: dict[str, ReliabilityBins]
    varies_train_size: bool
    has_mc: bool


# ---------------------------------------------------------------- collecting


def _read_json(path: Path) -> dict[str, float]:
    """Top-level numbers of a metrics JSON (nested per-class values are not table material)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _read_csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.exists() else None


def collect_dvc(
    root: Path,
    rates: Sequence[float] | None = None,
    seed: int | None = None,
    train_size: int | None = None,
) -> list[RunResult]:
    """The DVC matrix outputs under `root` (metrics/train, metrics/eval, plots/history, plots/png).

    With `rates` (params.yaml's `sweep.rates`), outputs of rates no longer swept are left out and a
    swept rate without outputs is reported as MISSING. Seed and train size are the pipeline's own.
    """
    labels = {p.stem for sub in ("train", "eval") for p in (root / "metrics" / sub).glob("rate_*.json")}
    by_rate = {float(label.removeprefix("rate_")): label for label in sorted(labels)}
    wanted = list(by_rate) if rates is None else list(rates)
    results = []
    for rate in wanted:
        label = by_rate.get(rate)
        if label is None:
            results.append(RunResult(f"rate_{rate}", rate, seed, train_size, "MISSING"))
            continue
        values = _read_json(root / "metrics" / "train" / f"{label}.json")
        values |= _read_json(root / "metrics" / "eval" / f"{label}.json")
        history = _read_csv(root / "plots" / "history" / f"{label}.csv")
        reliability = _read_csv(root / "plots" / "png" / label / "reliability.csv")
        results.append(RunResult(label, rate, seed, train_size, "FINISHED", values, history, reliability))
    return results


def latest_sweep(client: MlflowClient, experiment: str) -> str:
    """The id of the most recently started sweep parent run in `experiment`."""
    found = client.search_runs(
        [_experiment_id(client, experiment)],
        filter_string=f"tags.`{tracking.TAG_ROLE}` = 'sweep'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not found:
        raise UserError(
            f"no sweep in MLflow experiment {experiment!r}: run one with "
            "`python -m pipeline.train -m model.dropout.rate=0,0.2,0.5 train.seed=1,2,3`, "
            f"or compare all its runs with `python -m pipeline.report report.experiment={experiment}`"
        )
    return found[0].info.run_id


def _experiment_id(client: MlflowClient, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is None:
        raise UserError(f"no MLflow experiment {name!r} in {client.tracking_uri}")
    return found.experiment_id


def collect_mlflow(
    client: MlflowClient, parent_run_id: str | None = None, experiment: str | None = None
) -> list[RunResult]:
    """The children of a sweep's parent run, or every training run of an experiment."""
    if parent_run_id is not None:
        runs = tracking.child_runs(client, _existing(client, parent_run_id))
    elif experiment is not None:
        runs = client.search_runs(
            [_experiment_id(client, experiment)],
            filter_string=f"tags.`{tracking.TAG_ROLE}` = 'train'",
            max_results=10_000,
        )
    else:
        raise ValueError("give a parent run id or an experiment name")
    return [_from_mlflow(client, run) for run in runs]


def _existing(client: MlflowClient, run_id: str) -> str:
    """The run id, or a UserError naming the store when no such run exists (a typo, another store)."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_run(run_id)
    except MlflowException:
        raise UserError(f"no MLflow run {run_id!r} in {client.tracking_uri}") from None
    return run_id


def _param(params: Mapping[str, str], key: str, kind: type) -> Any:
    """A logged param as `kind`; None when absent or logged as None (e.g. data.train_size)."""
    text = params.get(key)
    return None if text in (None, "None", "null") else kind(float(text) if kind is int else text)


def _from_mlflow(client: MlflowClient, run: Run) -> RunResult:
    params = run.data.params
    run_id = run.info.run_id
    return RunResult(
        name=run_id,
        rate=_param(params, "model.dropout.rate", float),
        seed=_param(params, "train.seed", int),
        train_size=_param(params, "data.train_size", int),
        status=run.info.status,
        metrics=dict(run.data.metrics),
        history=_mlflow_history(client, run_id),
        reliability=_mlflow_reliability(client, run_id),
    )


def _mlflow_history(client: MlflowClient, run_id: str) -> pd.DataFrame | None:
    """Per-epoch loss/accuracy (step = epoch) as the history table train.py writes."""
    columns = {
        key: pd.Series({m.step: m.value for m in client.get_metric_history(run_id, key)}, dtype=float)
        for key in HISTORY_KEYS
    }
    if any(series.empty for series in columns.values()):
        return None
    history = pd.DataFrame(columns).sort_index().dropna()
    return history.rename_axis("epoch").reset_index()


def _mlflow_reliability(client: MlflowClient, run_id: str) -> pd.DataFrame | None:
    folder = RELIABILITY_ARTIFACT.rsplit("/", 1)[0]
    if RELIABILITY_ARTIFACT not in {a.path for a in client.list_artifacts(run_id, folder)}:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return pd.read_csv(client.download_artifacts(run_id, RELIABILITY_ARTIFACT, tmp))


# ---------------------------------------------------------------- summarizing


def _label(rate: float, train_size: int | None, varies_train_size: bool) -> str:
    size = f", train size {'all' if train_size is None else train_size}" if varies_train_size else ""
    return f"rate {rate:g}{size}"


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample std (ddof=1; None for a single run, where it is undefined)."""
    if not values:
        return None, None
    mean = float(np.mean(values))
    return mean, float(np.std(values, ddof=1)) if len(values) > 1 else None


def _row(rate: float, train_size: int | None, runs: Sequence[RunResult]) -> dict[str, Any]:
    row: dict[str, Any] = {"rate": rate, "train_size": train_size, "n": len(runs)}
    seeds = sorted({run.seed for run in runs if run.seed is not None})
    row["seeds"] = seeds
    for key in (*REQUIRED, *OPTIONAL):
        values = [run.metrics[key] for run in runs if key in run.metrics]
        # An optional metric only some runs have would be a biased mean: leave it out.
        mean, std = _mean_std(values) if len(values) == len(runs) else (None, None)
        row[f"{key}_mean"], row[f"{key}_std"] = mean, std
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
    keys = sorted(
        {(r.rate, r.train_size) for r in results if r.rate is not None},
        key=lambda key: (key[1] is not None, key[1] or 0, key[0]),
    )
    varies = len({size for _, size in keys}) > 1
    rows, histories, reliability = [], {}, {}
    for rate, size in keys:
        runs = [r for r in results if r.complete and (r.rate, r.train_size) == (rate, size)]
        rows.append(_row(rate, size, runs))
        label = _label(rate, size, varies)
        history = mean_history(r.history for r in runs if r.history is not None)
        if history is not None:
            histories[label] = history
        pooled = pooled_reliability(r.reliability for r in runs if r.reliability is not None)
        if pooled is not None:
            reliability[label] = pooled
    incomplete = [r for r in results if not r.complete]
    has_mc = any(row["mc_accuracy_mean"] is not None for row in rows)
    return Summary(rows, incomplete, histories, reliability, varies, has_mc)


# ---------------------------------------------------------------- writing


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
    write_json_atomic(out_dir / "comparison.json", {"source": source, "rows": rows, "incomplete": incomplete})
    curves = learning_curves_table(summary.histories)
    write_text_atomic(out_dir / "learning_curves.csv", curves.to_csv(index=False, float_format="%.6f"))
    return report


# ---------------------------------------------------------------- entry points


def _sweep_out_dir(settings: Settings, client: MlflowClient, parent_run_id: str) -> Path:
    if settings.report.out_dir:
        return project_path(settings.report.out_dir)
    sweep_id = client.get_run(parent_run_id).data.tags.get(tracking.TAG_SWEEP)
    return project_path("reports", f"sweep_{sweep_id}" if sweep_id else f"run_{parent_run_id}")


def _require(results: Sequence[RunResult], where: str) -> None:
    if not results:
        raise UserError(f"no training runs in {where}: nothing to compare")


def build_report(settings: Settings, parent_run_id: str) -> Path:
    """The report of one sweep, written to disk and logged as artifacts of its parent run."""
    client = tracking.client_for(settings.tracking)
    results = collect_mlflow(client, parent_run_id=parent_run_id)
    _require(results, f"MLflow sweep {parent_run_id}")
    out_dir = _sweep_out_dir(settings, client, parent_run_id)
    report = write_report(summarize(results), out_dir, f"MLflow sweep, parent run `{parent_run_id}`")
    client.log_artifacts(parent_run_id, str(out_dir), REPORT_ARTIFACT_DIR)
    return report


def report_from_dvc(settings: Settings) -> Path:
    """The `compare` stage: the DVC matrix outputs of the rates in params.yaml's sweep.rates."""
    results = collect_dvc(
        project_path(), settings.sweep.rates, seed=settings.train.seed, train_size=settings.data.train_size
    )
    out_dir = project_path(settings.report.out_dir or "reports")
    return write_report(summarize(results), out_dir, "DVC pipeline outputs (`metrics/`, `plots/`)")


def report_from_mlflow(settings: Settings) -> Path:
    """A chosen sweep, every training run of an experiment, or (default) the latest sweep."""
    client = tracking.client_for(settings.tracking)
    chosen = settings.report
    if chosen.parent_run_id is None and chosen.experiment is not None:
        results = collect_mlflow(client, experiment=chosen.experiment)
        _require(results, f"MLflow experiment {chosen.experiment!r}")
        out_dir = project_path(chosen.out_dir or f"reports/experiment_{chosen.experiment}")
        source = f"every training run of MLflow experiment `{chosen.experiment}`"
        return write_report(summarize(results), out_dir, source)
    parent = chosen.parent_run_id or latest_sweep(client, settings.tracking.experiment)
    return build_report(settings, parent)


def use_dvc(settings: Settings) -> bool:
    """`auto`: DVC stages run with params.yaml as their config; interactive runs compose conf/."""
    if settings.report.source != "auto":
        return settings.report.source == "dvc"
    return HydraConfig.get().job.config_name == "params"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    with reported_as_exit():
        settings = load_settings(cfg)
        report = report_from_dvc(settings) if use_dvc(settings) else report_from_mlflow(settings)
        log.info("wrote %s", report)


if __name__ == "__main__":
    main()
