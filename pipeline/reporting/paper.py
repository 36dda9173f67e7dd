"""Srivastava et al. (2014)'s MNIST findings beside ours: reference numbers, figures and the table.

The figures take a pandas DataFrame of runs, one row per training run, with the columns of
`RUN_COLUMNS` (plus `mc_curve_error.<k>` columns for Fig. 11), so they can be drawn from MLflow
runs (`runs_frame`) or from any table with those columns (tests use synthetic ones). Error is
`1 - test_accuracy`, in percent; p is the paper's keep probability, `1 - model.dropout.rate`.
Only finished runs count; a figure's points are the mean over seeds with +- one std as error bars.
`python -m pipeline.paper_report` draws them from the tracking store (`pipeline.reporting.run_batches`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pipeline.core.atomic import write_text_atomic

PRESETS = ("paper_table2", "paper_rates", "paper_sizes")
RUN_COLUMNS = (
    "preset", "rate", "input_rate", "train_size", "train_on_val", "seed", "hidden_units", "max_norm",
    "epochs", "status", "test_accuracy", "val_accuracy",
)  # fmt: skip
MC_PREFIX = "mc_curve_error."
FINISHED = "FINISHED"

# Srivastava et al., JMLR 15 (2014), Table 2 (MNIST test error, %).
TABLE2 = (
    ("Standard neural net (2x800 logistic), no dropout", 1.60),
    ("Dropout NN, 3x1024 ReLU", 1.25),
    ("Dropout NN + max-norm, 3x1024 ReLU", 1.06),
    ("Dropout NN + max-norm, 2x8192 ReLU", 0.95),
)
TABLE2_OURS = "Dropout NN + max-norm, 3x1024 ReLU"
# The paper's qualitative claims for the other figures (Section 7).
FIGURE_CLAIMS = {
    "Fig. 9": "test error flat for 0.4 <= p <= 0.8, rising towards both ends",
    "Fig. 10": "no gain at the smallest sizes, a clear gain in the middle, shrinking as data grows",
    "Fig. 11": "MC averaging of about 50 dropout nets matches the weight-scaling rule",
}
_DPI = 120


@dataclass(frozen=True)
class PresetRun:
    """One preset's sweep: its training runs' rows and its wall-clock time (None while running)."""

    preset: str
    rows: list[dict[str, Any]]
    seconds: float | None


def row_of(
    preset: str, params: Mapping[str, str], metrics: Mapping[str, float], status: str
) -> dict[str, Any]:
    """The DataFrame row of one training run, from its MLflow params (flattened config) and metrics."""
    size = params.get("data.train_size", "None")
    max_norm = params.get("model.max_norm", "None")
    row: dict[str, Any] = {
        "preset": preset,
        "rate": float(params["model.dropout.rate"]),
        "input_rate": float(params["model.dropout.input_rate"]),
        "train_size": None if size == "None" else int(size),
        "train_on_val": params.get("data.train_on_val") == "True",
        "seed": int(params["train.seed"]),
        "hidden_units": params.get("model.hidden_units", ""),
        "max_norm": None if max_norm == "None" else float(max_norm),
        "epochs": int(metrics.get("epochs", params.get("train.epochs", 0))),
        "status": status,
        "test_accuracy": metrics.get("test_accuracy", math.nan),
        "val_accuracy": metrics.get("val_accuracy", math.nan),
    }
    row |= {key: value for key, value in metrics.items() if key.startswith(MC_PREFIX)}
    return row


def runs_frame(presets: Iterable[PresetRun]) -> pd.DataFrame:
    """All presets' runs in one table (columns `RUN_COLUMNS`, then the MC curve columns)."""
    rows = [row for preset in presets for row in preset.rows]
    frame = pd.DataFrame(rows)
    for column in RUN_COLUMNS:
        if column not in frame:
            frame[column] = pd.Series(dtype=object)
    mc = sorted((c for c in frame.columns if c.startswith(MC_PREFIX)), key=_k)
    return frame[[*RUN_COLUMNS, *mc]]


def _k(column: str) -> int:
    return int(column.removeprefix(MC_PREFIX))


def _finished(runs: pd.DataFrame, preset: str) -> pd.DataFrame:
    part = runs[(runs["preset"] == preset) & (runs["status"] == FINISHED)].copy()
    part["test_error"] = 100.0 * (1.0 - part["test_accuracy"].astype(float))
    return part


def _mean_std(part: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean, std (0 for a single seed) and count of the test error per group."""
    grouped = part.groupby(by, dropna=False)["test_error"]
    table = grouped.agg(["mean", "std", "count"]).reset_index()
    table["std"] = table["std"].fillna(0.0)
    return table


def error_vs_keep_probability(runs: pd.DataFrame) -> Figure:
    """Fig. 9: test error against the hidden units' keep probability p, mean +- std over seeds."""
    table = _mean_std(_finished(runs, "paper_rates"), ["rate"])
    table["p"] = 1.0 - table["rate"]
    table = table.sort_values("p")
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.errorbar(table["p"], table["mean"], yerr=table["std"], marker="o", capsize=3, label="ours")
    ax.axvspan(0.4, 0.8, color="grey", alpha=0.12, label="paper: flat for 0.4 <= p <= 0.8")
    ax.set_xlabel("p = probability of RETAINING a hidden unit (1 - dropout rate)")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"Fig. 9: error vs keep probability ({_seeds_text(table)})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def error_vs_train_size(runs: pd.DataFrame) -> Figure:
    """Fig. 10: test error against training-set size, dropout against no dropout (log x)."""
    part = _finished(runs, "paper_sizes")
    part["recipe"] = np.where((part["rate"] > 0) | (part["input_rate"] > 0), "dropout", "standard")
    table = _mean_std(part, ["recipe", "train_size"])
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for recipe, style in (("standard", "s--"), ("dropout", "o-")):
        line = table[table["recipe"] == recipe].sort_values("train_size")
        if not line.empty:
            ax.errorbar(line["train_size"], line["mean"], yerr=line["std"], fmt=style, capsize=3,
                        label=f"{'with' if recipe == 'dropout' else 'without'} dropout")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("training-set size (images)")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"Fig. 10: error vs data set size ({_seeds_text(table)})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


def mc_error_vs_k(runs: pd.DataFrame, preset: str = "paper_table2") -> Figure:
    """Fig. 11: test error of the MC average of k dropout passes, against the weight-scaling error."""
    part = _finished(runs, preset)
    columns = sorted((c for c in part.columns if c.startswith(MC_PREFIX) and part[c].notna().any()), key=_k)
    if part.empty or not columns:
        raise ValueError(f"no finished {preset} run with an MC curve (eval.mc_curve) to draw Fig. 11 from")
    ks = [_k(c) for c in columns]
    curve = 100.0 * part[columns].astype(float)
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.errorbar(ks, curve.mean(), yerr=curve.std().fillna(0.0), marker="o", capsize=3,
                label="Monte-Carlo model averaging (k dropout nets)")  # fmt: skip
    scaling = part["test_error"]
    ax.axhline(scaling.mean(), color="black", ls="--", label=f"weight scaling ({scaling.mean():.2f}%)")
    ax.set_xscale("log")
    ax.set_xlabel("k = number of sampled dropout nets averaged")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"Fig. 11: MC averaging vs weight scaling ({len(part)} run(s))")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


def _seeds_text(table: pd.DataFrame) -> str:
    low, high = int(table["count"].min()), int(table["count"].max())
    seeds = str(low) if low == high else f"{low}-{high}"
    return f"mean ± std over {seeds} seed(s)"


def comparison_table(runs: pd.DataFrame, seconds: Mapping[str, float | None]) -> str:
    """Markdown: the paper's numbers and ours side by side, with our run counts and preset times."""
    lines = [
        "| Finding | Paper | Ours | Runs (finished/all) | Time here |",
        "|---|---|---|---|---|",
    ]
    t2 = _finished(runs, "paper_table2")
    for name, error in TABLE2:
        if name != TABLE2_OURS:
            lines.append(f"| Table 2: {name} | {error:.2f}% | not reproduced here | | |")
            continue
        ours = f"{t2['test_error'].mean():.2f}% ({_shape(t2)})" if len(t2) else _absent(runs, "paper_table2")
        time = _duration(seconds.get("paper_table2"))
        lines.append(
            f"| Table 2: {name} | {error:.2f}% | {ours} | {_counts(runs, 'paper_table2')} | {time} |"
        )
    for figure, preset, ours in (
        ("Fig. 9", "paper_rates", _rates_summary(runs)),
        ("Fig. 10", "paper_sizes", _sizes_summary(runs)),
        ("Fig. 11", "paper_table2", _mc_summary(runs)),
    ):
        time = _duration(seconds.get(preset)) if figure != "Fig. 11" else "(in Table 2's run)"
        lines.append(
            f"| {figure}: {FIGURE_CLAIMS[figure]} | see paper | {ours} | {_counts(runs, preset)} | {time} |"
        )
    return "\n".join(lines) + "\n"


def _absent(runs: pd.DataFrame, preset: str) -> str:
    """Why a preset has no number: never run, or no run of it finished (yet)."""
    return "no finished run" if (runs["preset"] == preset).any() else "not run"


def _shape(part: pd.DataFrame) -> str:
    first = part.iloc[0]
    norm = (
        "" if first["max_norm"] is None or pd.isna(first["max_norm"]) else f", max-norm {first['max_norm']:g}"
    )
    final_fit = ", trained on training + validation images" if first["train_on_val"] else ""
    return f"{first['hidden_units']}{norm}, {int(first['epochs'])} epochs{final_fit}, {len(part)} seed(s)"


def _counts(runs: pd.DataFrame, preset: str) -> str:
    part = runs[runs["preset"] == preset]
    return f"{int((part['status'] == FINISHED).sum())}/{len(part)}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not finished"
    return f"{seconds / 60:.0f} min"


def _rates_summary(runs: pd.DataFrame) -> str:
    table = _mean_std(_finished(runs, "paper_rates"), ["rate"])
    if table.empty:
        return _absent(runs, "paper_rates")
    cells = [f"p={1 - r:.1f}: {m:.2f}±{s:.2f}" for r, m, s in table.sort_values("rate", ascending=False)[
        ["rate", "mean", "std"]].itertuples(index=False)]  # fmt: skip
    return "; ".join(cells) + " (%)"


def _sizes_summary(runs: pd.DataFrame) -> str:
    part = _finished(runs, "paper_sizes")
    if part.empty:
        return _absent(runs, "paper_sizes")
    part["recipe"] = np.where((part["rate"] > 0) | (part["input_rate"] > 0), "dropout", "standard")
    table = _mean_std(part, ["train_size", "recipe"]).pivot(index="train_size", columns="recipe")
    cells = []
    for size, row in table.iterrows():
        pair = [f"{row[('mean', r)]:.2f}±{row[('std', r)]:.2f}" if ("mean", r) in row.index and
                not pd.isna(row[("mean", r)]) else "-" for r in ("standard", "dropout")]  # fmt: skip
        cells.append(f"{int(size)}: {pair[0]} vs {pair[1]}")
    return "; ".join(cells) + " (% without vs with dropout)"


def _mc_summary(runs: pd.DataFrame) -> str:
    part = _finished(runs, "paper_table2")
    columns = sorted((c for c in part.columns if c.startswith(MC_PREFIX) and part[c].notna().any()), key=_k)
    if part.empty or not columns:
        return _absent(runs, "paper_table2")
    cells = [f"k={_k(c)}: {100 * part[c].mean():.2f}" for c in columns]
    return "; ".join(cells) + f" vs weight scaling {part['test_error'].mean():.2f} (%)"


def write_paper_report(runs: pd.DataFrame, seconds: Mapping[str, float | None], out_dir: Path) -> list[Path]:
    """The table (paper_comparison.md) and every figure whose preset has finished runs."""
    from pipeline.evaluation.plots import save_figure

    out_dir.mkdir(parents=True, exist_ok=True)
    table = out_dir / "paper_comparison.md"
    write_text_atomic(table, comparison_table(runs, seconds))
    written = [table]
    figures = {
        "paper_fig9_error_vs_p.png": ("paper_rates", error_vs_keep_probability),
        "paper_fig10_error_vs_size.png": ("paper_sizes", error_vs_train_size),
        "paper_fig11_mc_vs_k.png": ("paper_table2", mc_error_vs_k),
    }
    for name, (preset, draw) in figures.items():
        if _finished(runs, preset).empty:
            continue
        save_figure(draw(runs), out_dir / name)
        written.append(out_dir / name)
    return written
