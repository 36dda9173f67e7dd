"""Figures users read at a glance: learning curves, gap vs rate, calibration, confusion (PNG).

Plain `matplotlib.figure.Figure` objects (no pyplot, so no global state or GUI backend) rendered
by Agg; no TensorFlow import.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pipeline.core.atomic import write_with
from pipeline.evaluation.metrics import ReliabilityBins

RATE_LABEL = "dropout rate (probability of dropping a unit)"
_DPI = 120


def _colours(n: int) -> list[Any]:
    """One distinct colour per series, in a stable order."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"] if n <= 10 else colormaps["viridis"]
    return [cmap(i if n <= 10 else i / max(n - 1, 1)) for i in range(n)]


def learning_curves(histories: Mapping[str, pd.DataFrame], legend_title: str | None = None) -> Figure:
    """Train (solid) vs validation (dashed) loss per epoch, one colour per history, one axes.

    The dot marks each history's lowest validation loss: after it, the model fits noise. A history
    of several seeds (a mean, with `loss_min`/`loss_max`, `val_loss_min`/`val_loss_max` columns)
    is shaded from its lowest to its highest seed, where they differ.
    """
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    shaded = False
    for colour, (label, history) in zip(_colours(len(histories)), histories.items(), strict=True):
        ax.plot(history["epoch"], history["loss"], color=colour, label=f"{label}: train")
        ax.plot(history["epoch"], history["val_loss"], color=colour, ls="--", label=f"{label}: validation")
        best = history["val_loss"].idxmin()
        ax.plot(history.loc[best, "epoch"], history.loc[best, "val_loss"], "o", color=colour)
        for key in ("loss", "val_loss"):
            low, high = history.get(f"{key}_min"), history.get(f"{key}_max")
            if low is not None and high is not None and bool((high > low).any()):
                ax.fill_between(history["epoch"], low, high, color=colour, alpha=0.2, lw=0)
                shaded = True
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    title = "Learning curves: train (solid) vs validation (dashed); dot = lowest validation loss"
    ax.set_title(f"{title}\nmean over seeds, shaded from the lowest to the highest seed" if shaded else title)
    locator = ax.xaxis.get_major_locator()
    assert isinstance(locator, MaxNLocator)  # matplotlib's default AutoLocator is one
    locator.set_params(integer=True)  # epochs are whole numbers
    ax.grid(alpha=0.3)
    ax.legend(title=legend_title, fontsize="small")
    return fig


def gap_and_accuracy_vs_rate(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Left: overfitting gap vs rate; right: train/validation/test accuracy vs rate (bars: interval).

    Each row needs `rate`, `train_size` and `<metric>_mean`, `<metric>_low`, `<metric>_high` for
    `overfit_gap`, `train_accuracy`, `val_accuracy` and `test_accuracy` (the bounds of its 95% interval
    over seeds; None for a single run: no bar); one line per train size (and `variant`, the other
    dropout rates, when rows have one).
    """
    table = pd.DataFrame(list(rows)).dropna(subset=["overfit_gap_mean"]).sort_values("rate")
    table["size"] = [_size_text(size) for size in table["train_size"]]
    if "variant" in table:  # other dropout rates that differ between rows: a line each
        table["size"] = [
            f"{size}, {variant}" for size, variant in zip(table["size"], table["variant"], strict=True)
        ]
    sizes = list(dict.fromkeys(table["size"]))
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    gap_ax, acc_ax = fig.subplots(1, 2)
    for colour, size in zip(_colours(len(sizes)), sizes, strict=True):
        part = table[table["size"] == size]
        suffix = "" if len(sizes) == 1 else f" (train size {size})"
        _errorbar(gap_ax, part, "overfit_gap", colour, "-", f"train - test{suffix}")
        for metric, style, name in [
            ("test_accuracy", "-", "test"),
            ("val_accuracy", "--", "validation"),
            ("train_accuracy", ":", "train"),
        ]:
            _errorbar(acc_ax, part, metric, colour, style, f"{name}{suffix}")
    gap_ax.axhline(0.0, color="grey", lw=0.8)
    gap_ax.set_ylabel("overfitting gap: train - test accuracy")
    gap_ax.set_title("Overfitting gap (lower = less overfitting)")
    acc_ax.set_ylabel("accuracy")
    acc_ax.set_title("Accuracy (train measured with dropout off)")
    if table[[f"{metric}_low" for metric in _INTERVAL_METRICS]].notna().to_numpy().any():
        fig.suptitle("Bars: 95% interval of the mean over seeds", fontsize="small")
    for ax in (gap_ax, acc_ax):
        ax.set_xlabel(RATE_LABEL)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig


_INTERVAL_METRICS = ("overfit_gap", "test_accuracy", "val_accuracy", "train_accuracy")


def _size_text(size: Any) -> str:
    """`all` for the whole training split (None, or NaN once pandas has seen it)."""
    return "all" if size is None or pd.isna(size) else str(int(size))


def _errorbar(ax: Any, part: pd.DataFrame, metric: str, colour: Any, style: str, label: str) -> None:
    mean = part[f"{metric}_mean"].astype(float)
    low, high = part[f"{metric}_low"].astype(float), part[f"{metric}_high"].astype(float)
    yerr = [(mean - low).fillna(0.0), (high - mean).fillna(0.0)]
    ax.errorbar(part["rate"], part[f"{metric}_mean"], yerr=yerr, color=colour, ls=style, marker="o",
                capsize=3, label=label)  # fmt: skip


def reliability_diagram(curves: Mapping[str, ReliabilityBins]) -> Figure:
    """Accuracy vs confidence per bin; the diagonal is perfect calibration.

    Below the diagonal = overconfident. Bottom panel: how many samples each bin holds.
    """
    fig = Figure(figsize=(6.5, 7), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], color="grey", ls=":", label="perfect calibration")
    for colour, (label, bins) in zip(_colours(len(curves)), curves.items(), strict=True):
        filled = bins.count > 0
        centres = (bins.lower + bins.upper) / 2
        top.plot(bins.confidence[filled], bins.accuracy[filled], "o-", color=colour,
                 label=f"{label} (ECE {bins.ece():.3f})")  # fmt: skip
        bottom.step(centres, bins.count / max(bins.count.sum(), 1), where="mid", color=colour)
    top.set_ylabel("accuracy in bin")
    top.set_title("Reliability diagram (below the diagonal = overconfident)")
    top.set(xlim=(0, 1), ylim=(-0.02, 1.02))  # room for the markers at 0 and 1
    top.grid(alpha=0.3)
    top.legend(fontsize="small", loc="upper left")
    bottom.set_xlabel("confidence (max predicted probability)")
    bottom.set_ylabel("share of samples")
    bottom.set_yscale("log")
    bottom.grid(alpha=0.3)
    return fig


def confusion_plot(matrix: np.ndarray, title: str = "Confusion matrix (test set)") -> Figure:
    """Counts per (true, predicted) class; colour = share of the true class, so errors stand out."""
    matrix = np.asarray(matrix)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    n = matrix.shape[0]
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(col, row, str(count), ha="center", va="center", fontsize="x-small",
                color="white" if shares[row, col] > 0.5 else "black")  # fmt: skip
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="share of the true class")
    return fig


# PNGs are committed with the code (reports/, plots/png/): a 256-colour palette keeps each one about
# a third of matplotlib's RGBA size (~30 kB instead of ~90 kB) with no visible change to line plots.
_PNG_COLOURS = 256


def png_bytes(fig: Figure) -> bytes:
    """The figure as a palette PNG whose bytes depend on the figure alone.

    Matplotlib's own PNG carries its version ("Software"); Pillow writes none, and median-cut
    quantization is deterministic.
    """
    from PIL import Image

    rendered = io.BytesIO()
    fig.savefig(rendered, dpi=_DPI, format="png", metadata={"Software": None})
    image = Image.open(rendered).convert("RGB").quantize(_PNG_COLOURS, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def save_figure(fig: Figure, path: Path | str) -> None:
    """Write a PNG atomically, so a reader (DVC, MLflow, a browser) never sees half of one."""
    data = png_bytes(fig)
    write_with(path, lambda tmp: tmp.write_bytes(data))
