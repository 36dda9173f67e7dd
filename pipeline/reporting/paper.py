"""Srivastava et al. (2014)'s MNIST findings beside ours: reference numbers, figures and the table.

The figures take a pandas DataFrame of runs, one row per training run, with the columns of
`RUN_COLUMNS` (plus `mc_curve_error.<k>` columns for Fig. 11), so they can be drawn from MLflow
runs (`runs_frame`) or from any table with those columns (tests use synthetic ones). Error is
`1 - test_accuracy`, in percent; p is the paper's keep probability, `1 - model.dropout.rate`.
Only finished runs count; a figure's points are the mean over seeds with the 95% interval of the
mean as error bars, and Fig. 10 pairs dropout with no dropout by seed at each size, as the
comparison does (`reporting.stats`). `python -m pipeline.paper_report` draws them from the
tracking store (`pipeline.reporting.run_batches`).
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
from pipeline.reporting.finding import p_text
from pipeline.reporting.stats import estimate, paired

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


def _mean_interval(part: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean, half-width of the 95% interval (0 for a single seed: no interval) and count of the
    test error per group."""
    rows = []
    for key, group in part.groupby(by, dropna=False):
        found = estimate(group["test_error"].astype(float))
        keys = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, keys, strict=True)), "mean": found.mean,
                     "half": found.half_width or 0.0, "count": found.n})  # fmt: skip
    return pd.DataFrame(rows, columns=[*by, "mean", "half", "count"])


def _recipe(part: pd.DataFrame) -> pd.DataFrame:
    """`part` with a `recipe` column: dropout (any hidden or input dropout) or standard."""
    dropout = (part["rate"] > 0) | (part["input_rate"] > 0)
    return part.assign(recipe=np.where(dropout, "dropout", "standard"))


def error_vs_keep_probability(runs: pd.DataFrame) -> Figure:
    """Fig. 9: test error against the hidden units' keep probability p, mean and 95% interval over seeds."""
    table = _mean_interval(_finished(runs, "paper_rates"), ["rate"])
    table["p"] = 1.0 - table["rate"]
    table = table.sort_values("p")
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.errorbar(table["p"], table["mean"], yerr=table["half"], marker="o", capsize=3, label="ours")
    ax.axvspan(0.4, 0.8, color="grey", alpha=0.12, label="paper: flat for 0.4 <= p <= 0.8")
    ax.set_xlabel("p = probability of RETAINING a hidden unit (1 - dropout rate)")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"Fig. 9: error vs keep probability ({_seeds_text(table)})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def error_vs_train_size(runs: pd.DataFrame) -> Figure:
    """Fig. 10: test error against training-set size, dropout against no dropout (log x)."""
    table = _mean_interval(_recipe(_finished(runs, "paper_sizes")), ["recipe", "train_size"])
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for recipe, style in (("standard", "s--"), ("dropout", "o-")):
        line = table[table["recipe"] == recipe].sort_values("train_size")
        if not line.empty:
            ax.errorbar(line["train_size"], line["mean"], yerr=line["half"], fmt=style, capsize=3,
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
    curve = [estimate(100.0 * part[column].dropna().astype(float)) for column in columns]
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.errorbar(ks, [c.mean or 0.0 for c in curve], yerr=[c.half_width or 0.0 for c in curve], marker="o",
                capsize=3, label="Monte-Carlo model averaging (k dropout nets)")  # fmt: skip
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
    return f"mean and 95% interval over {seeds} seed(s)"


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
    table = _mean_interval(_finished(runs, "paper_rates"), ["rate"])
    if table.empty:
        return _absent(runs, "paper_rates")
    cells = [f"p={1 - r:.1f}: {m:.2f}±{h:.2f}" for r, m, h in table.sort_values("rate", ascending=False)[
        ["rate", "mean", "half"]].itertuples(index=False)]  # fmt: skip
    return "; ".join(cells) + " (%, mean ± 95% interval)"


def _error_text(errors: pd.Series) -> str:
    """`mean±half-width` of the 95% interval; the mean alone for one seed; `-` for none."""
    found = estimate(errors.astype(float))
    if found.mean is None:
        return "-"
    return f"{found.mean:.2f}" if found.half_width is None else f"{found.mean:.2f}±{found.half_width:.2f}"


def _by_seed(part: pd.DataFrame) -> dict[int, float]:
    return {int(seed): float(error) for seed, error in part.groupby("seed")["test_error"].mean().items()}


def _sizes_summary(runs: pd.DataFrame) -> str:
    part = _finished(runs, "paper_sizes")
    if part.empty:
        return _absent(runs, "paper_sizes")
    part = _recipe(part)
    cells = []
    for size, at_size in part.groupby("train_size"):
        standard, dropout = (at_size[at_size["recipe"] == recipe] for recipe in ("standard", "dropout"))
        cell = f"{int(size)}: {_error_text(standard['test_error'])} vs {_error_text(dropout['test_error'])}"
        test = paired(_by_seed(dropout), _by_seed(standard))
        found = test.difference
        if found.mean is not None and found.low is not None and found.high is not None:
            p = "no test" if test.p_value is None else p_text(test.p_value)
            cell += f" (paired {found.mean:+.2f} [{found.low:+.2f}, {found.high:+.2f}], {p})"
        cells.append(cell)
    return "; ".join(cells) + (
        " (% without vs with dropout, mean ± 95% interval; paired: with minus without on the same "
        "seeds, its 95% interval and paired t-test)"
    )


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
