"""Figures: labelled axes, the rate's meaning spelled out, one colour per rate, valid PNGs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.image import imread

from pipeline.evaluation import metrics
from pipeline.evaluation.plots import (
    RATE_LABEL,
    confusion_plot,
    gap_and_accuracy_vs_rate,
    learning_curves,
    reliability_diagram,
    save_figure,
)


def _history(offset: float) -> pd.DataFrame:
    epochs = np.arange(1, 6)
    return pd.DataFrame(
        {"epoch": epochs, "loss": 1.0 / epochs + offset, "val_loss": [0.9, 0.6, 0.5, 0.55, 0.7]}
    )


def _row(rate: float, gap: float, size: int | None = None, half: float | None = 0.01) -> dict:
    """A summary row: each metric's mean and the bounds of its interval (None: one run, no interval)."""
    row = {"rate": rate, "train_size": size}
    for key, value in [("overfit_gap", gap), ("train_accuracy", 0.99), ("val_accuracy", 0.97),
                       ("test_accuracy", 0.99 - gap)]:  # fmt: skip
        row[f"{key}_mean"] = value
        row[f"{key}_low"], row[f"{key}_high"] = (None, None) if half is None else (value - half, value + half)
    return row


def test_learning_curves_train_solid_validation_dashed_same_colour_per_rate():
    fig = learning_curves({"rate 0": _history(0.0), "rate 0.5": _history(0.2)}, legend_title=RATE_LABEL)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    for label in ["rate 0", "rate 0.5"]:
        train, val = lines[f"{label}: train"], lines[f"{label}: validation"]
        assert train.get_linestyle() == "-" and val.get_linestyle() == "--"
        assert to_hex(train.get_color()) == to_hex(val.get_color())
    assert to_hex(lines["rate 0: train"].get_color()) != to_hex(lines["rate 0.5: train"].get_color())
    assert ax.get_xlabel() == "epoch" and "loss" in ax.get_ylabel() and ax.get_title()
    assert ax.get_legend().get_title().get_text() == RATE_LABEL


def test_learning_curves_mark_the_lowest_validation_loss():
    ax = learning_curves({"only": _history(0.0)}).axes[0]
    markers = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert [(x[0], y[0]) for x, y in (m.get_data() for m in markers)] == [(3, 0.5)]


def test_learning_curves_of_several_seeds_are_shaded_from_the_lowest_to_the_highest():
    history = _history(0.0).assign(val_loss_min=lambda h: h["val_loss"] - 0.05,
                                   val_loss_max=lambda h: h["val_loss"] + 0.1)  # fmt: skip
    history = history.assign(loss_min=history["loss"], loss_max=history["loss"])  # no spread: no band
    ax = learning_curves({"rate 0": history}).axes[0]
    [band] = ax.collections
    corners = band.get_paths()[0].vertices
    assert corners[:, 1].min() == pytest.approx(0.45) and corners[:, 1].max() == pytest.approx(1.0)
    assert "lowest to the highest seed" in ax.get_title()
    single = learning_curves({"rate 0": _history(0.0)}).axes[0]
    assert not single.collections and "seed" not in single.get_title()


def test_gap_and_accuracy_bars_are_the_interval_and_absent_for_one_run():
    fig = gap_and_accuracy_vs_rate([_row(0.0, 0.03, half=0.004), _row(0.5, 0.01, half=0.002)])
    bars = fig.axes[0].containers[0].lines[2][0].get_segments()  # the gap's error bars
    assert [tuple(np.round(seg[:, 1], 6)) for seg in bars] == [(0.026, 0.034), (0.008, 0.012)]
    assert "95% interval" in fig.get_suptitle()
    single = gap_and_accuracy_vs_rate([_row(0.0, 0.03, half=None), _row(0.5, 0.01, half=None)])
    assert all(np.ptp(seg[:, 1]) == 0 for seg in single.axes[0].containers[0].lines[2][0].get_segments())
    assert not single.get_suptitle()


def test_gap_and_accuracy_vs_rate_say_what_the_rate_is():
    fig = gap_and_accuracy_vs_rate([_row(0.5, 0.01), _row(0.0, 0.03)])
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.get_xlabel() == RATE_LABEL == "dropout rate (probability of dropping a unit)"
        assert ax.get_ylabel() and ax.get_title()
    gap_line = fig.axes[0].get_lines()[0]
    assert list(gap_line.get_xdata()) == [0.0, 0.5]  # sorted by rate
    assert np.allclose(gap_line.get_ydata(), [0.03, 0.01])


def test_gap_and_accuracy_vs_rate_one_line_per_train_size():
    rows = [_row(0.0, 0.03, None), _row(0.5, 0.01, None), _row(0.0, 0.1, 500), _row(0.5, 0.05, 500)]
    labels = [t.get_text() for t in gap_and_accuracy_vs_rate(rows).axes[0].get_legend().texts]
    assert labels == ["train - test (train size all)", "train - test (train size 500)"]


def test_reliability_diagram_has_the_diagonal_and_ece_in_the_legend():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=200)
    bins = metrics.reliability_bins(probs, rng.integers(0, 3, 200), bins=10)
    fig = reliability_diagram({"rate 0.5": bins})
    top = fig.axes[0]
    texts = [t.get_text() for t in top.get_legend().texts]
    assert "perfect calibration" in texts
    assert f"rate 0.5 (ECE {bins.ece():.3f})" in texts
    assert top.get_ylabel() and fig.axes[1].get_xlabel().startswith("confidence")


def test_confusion_plot_writes_every_count():
    matrix = np.array([[5, 1], [0, 7]])
    ax = confusion_plot(matrix).axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "5", "7"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"


def test_save_figure_writes_a_real_png_and_no_temp_file(tmp_path: Path):
    target = tmp_path / "sub" / "curves.png"
    save_figure(learning_curves({"a": _history(0.0)}), target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = imread(target).shape
    assert height > 300 and width > 500
    assert [p.name for p in target.parent.iterdir()] == ["curves.png"]


def test_saved_png_bytes_depend_on_the_figure_alone(tmp_path: Path):
    """No matplotlib version (or date) stamped in: the same figure gives the same bytes."""
    save_figure(learning_curves({"a": _history(0.0)}), tmp_path / "a.png")
    save_figure(learning_curves({"a": _history(0.0)}), tmp_path / "b.png")
    data = (tmp_path / "a.png").read_bytes()
    assert data == (tmp_path / "b.png").read_bytes()
    assert b"Software" not in data and b"atplotlib" not in data
    assert len(data) < 50_000  # a palette PNG: small enough to commit on every run


def test_plots_metrics_and_report_do_not_import_tensorflow():
    probe = (
        "import sys\nimport pipeline.evaluation.metrics, pipeline.evaluation.plots\n"
        "import pipeline.reporting.comparison\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
