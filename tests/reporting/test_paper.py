"""The paper figures and table from synthetic run tables: the right points, error bars, counts and times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from pipeline.evaluation.metrics import mc_error_curve
from pipeline.reporting.paper import (
    PresetRun,
    comparison_table,
    error_vs_keep_probability,
    error_vs_train_size,
    mc_error_vs_k,
    row_of,
    runs_frame,
    write_paper_report,
)
from pipeline.reporting.run_batches import sweep_preset


def _params(rate: float, seed: int, size: int | None = 10000, input_rate: float = 0.2) -> dict[str, str]:
    return {
        "model.dropout.rate": str(rate),
        "model.dropout.input_rate": str(input_rate),
        "data.train_size": str(size),
        "train.seed": str(seed),
        "model.hidden_units": "[512, 512]",
        "model.max_norm": "3.0",
        "train.epochs": "30",
    }


def _rates_rows() -> list[dict]:
    """Test accuracy 0.97 + rate/100 + seed/1000 for seeds 1..3 (so the mean is known), one FAILED run."""
    rows = [
        row_of(
            "paper_rates", _params(rate, seed), {"test_accuracy": 0.97 + rate / 100 + seed / 1000}, "FINISHED"
        )
        for rate in (0.0, 0.5, 0.8)
        for seed in (1, 2, 3)
    ]
    rows.append(row_of("paper_rates", _params(0.5, 4), {"test_accuracy": 0.1}, "FAILED"))
    return rows


def _sizes_rows() -> list[dict]:
    rows = []
    for size in (100, 1000):
        for seed in (1, 2):
            rows.append(row_of("paper_sizes", _params(0.5, seed, size), {"test_accuracy": 0.9}, "FINISHED"))
            standard = _params(0.0, seed, size, input_rate=0.0)
            rows.append(row_of("paper_sizes", standard, {"test_accuracy": 0.8 + seed / 100}, "FINISHED"))
    return rows


def _table2_rows() -> list[dict]:
    metrics = {"test_accuracy": 0.988, "mc_curve_error.1": 0.02, "mc_curve_error.10": 0.013, "epochs": 50}
    params = _params(0.5, 1, None) | {"model.hidden_units": "[1024, 1024, 1024]", "data.train_on_val": "True"}
    return [row_of("paper_table2", params, metrics, "FINISHED")]


@pytest.fixture
def runs() -> pd.DataFrame:
    return runs_frame(
        [
            PresetRun("paper_rates", _rates_rows(), 600.0),
            PresetRun("paper_sizes", _sizes_rows(), None),
            PresetRun("paper_table2", _table2_rows(), 1800.0),
        ]
    )


def _errorbar_points(fig) -> list[tuple[np.ndarray, np.ndarray]]:
    """(x, y) of each data line drawn (error-bar caps and spans are not Line2D data lines with markers)."""
    ax = fig.axes[0]
    return [
        (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
        for line in ax.lines
        if line.get_marker() in "os"
    ]


def test_fig9_plots_mean_error_over_finished_seeds_against_keep_probability(runs):
    fig = error_vs_keep_probability(runs)
    [(x, y)] = _errorbar_points(fig)
    np.testing.assert_allclose(x, [0.2, 0.5, 1.0])  # p = 1 - rate, sorted
    # error = 100 * (1 - 0.97 - rate/100 - seed/1000), mean over seeds 1..3 (the FAILED run ignored)
    expected = [100 * (0.03 - rate / 100 - 0.002) for rate in (0.8, 0.5, 0.0)]
    np.testing.assert_allclose(y, expected)
    assert "3 seed(s)" in fig.axes[0].get_title()


def test_fig10_draws_one_line_per_recipe_over_train_sizes(runs):
    fig = error_vs_train_size(runs)
    lines = _errorbar_points(fig)
    assert len(lines) == 2
    (x_std, y_std), (_, y_drop) = lines  # standard drawn first
    np.testing.assert_allclose(x_std, [100, 1000])
    np.testing.assert_allclose(y_std, [100 * (1 - 0.815)] * 2)
    np.testing.assert_allclose(y_drop, [10.0, 10.0])
    assert fig.axes[0].get_xscale() == "log"


def test_fig11_draws_the_mc_curve_and_the_weight_scaling_line(runs):
    fig = mc_error_vs_k(runs)
    [(x, y)] = _errorbar_points(fig)
    np.testing.assert_allclose(x, [1, 10])
    np.testing.assert_allclose(y, [2.0, 1.3])
    scaling = [line for line in fig.axes[0].lines if line.get_linestyle() == "--"]
    assert scaling and np.allclose(scaling[0].get_ydata(), 1.2)


def test_the_table_says_when_a_preset_has_runs_but_none_finished():
    frame = runs_frame(
        [PresetRun("paper_table2", [row_of("paper_table2", _params(0.5, 1), {}, "RUNNING")], None)]
    )
    row = next(line for line in comparison_table(frame, {}).splitlines() if "max-norm, 3x1024" in line)
    assert "| no finished run | 0/1 | not finished |" in row


def test_fig11_without_an_mc_curve_says_what_is_missing():
    frame = runs_frame(
        [PresetRun("paper_table2", [row_of("paper_table2", _params(0.5, 1), {}, "RUNNING")], None)]
    )
    with pytest.raises(ValueError, match=r"eval\.mc_curve"):
        mc_error_vs_k(frame)


def test_the_table_puts_paper_and_ours_side_by_side_with_counts_and_times(runs):
    table = comparison_table(runs, {"paper_table2": 1800.0, "paper_rates": 600.0, "paper_sizes": None})
    row = next(line for line in table.splitlines() if "max-norm, 3x1024" in line)
    assert (
        "| 1.06% | 1.20% ([1024, 1024, 1024], max-norm 3, 50 epochs, trained on training + validation "
        "images, 1 seed(s)) | 1/1 | 30 min |"
    ) in row
    rates = next(line for line in table.splitlines() if line.startswith("| Fig. 9"))
    # Seeds 1..3 are 0.1 points apart: std 0.1, 95% interval half-width t(0.975, 2) * 0.1 / sqrt(3).
    assert f"p=1.0: 2.80±{scipy_stats.t.ppf(0.975, 2) * 0.1 / np.sqrt(3):.2f}" in rates
    assert "| 9/10 | 10 min |" in rates
    sizes = next(line for line in table.splitlines() if line.startswith("| Fig. 10"))
    # Without dropout 19% and 18% (seeds 1, 2), with it 10% on both: paired by seed, -9 and -8.
    half = scipy_stats.t.ppf(0.975, 1) * np.std([19.0, 18.0], ddof=1) / np.sqrt(2)
    p = scipy_stats.ttest_rel([10.0, 10.0], [19.0, 18.0]).pvalue
    interval = f"[{-8.5 - half:+.2f}, {-8.5 + half:+.2f}]"
    assert f"100: 18.50±{half:.2f} vs 10.00±0.00 (paired -8.50 {interval}, p = {p:.2f})" in sizes
    assert "not finished" in sizes
    assert "k=10: 1.30" in table and "weight scaling 1.20" in table


def test_the_report_writes_the_table_and_only_the_figures_it_has_runs_for(tmp_path: Path):
    frame = runs_frame([PresetRun("paper_rates", _rates_rows(), 60.0)])
    written = write_paper_report(frame, {"paper_rates": 60.0}, tmp_path)
    assert [path.name for path in written] == ["paper_comparison.md", "paper_fig9_error_vs_p.png"]
    assert (tmp_path / "paper_fig9_error_vs_p.png").read_bytes()[:4] == b"\x89PNG"
    table = (tmp_path / "paper_comparison.md").read_text()
    assert "| 1.60% | not reproduced here |" in table
    assert "| 1.06% | not run | 0/0 | not finished |" in table


def test_the_preset_is_read_from_the_sweep_overrides():
    assert sweep_preset("experiment=paper_rates hydra.launcher.n_jobs=1") == "paper_rates"
    assert sweep_preset("train.epochs=1 +experiment=paper_sizes") == "paper_sizes"
    assert sweep_preset("experiment=small_data") == "small_data"  # not a paper preset: no paper batch
    assert sweep_preset("model.dropout.rate=0,0.5") is None


def test_mc_error_curve_is_the_error_of_the_running_mean_of_passes():
    labels = np.array([0, 1])
    # pass 1 gets both wrong, pass 2 gets both right with more confidence: k=1 error 1, k=2 error 0.
    passes = np.array([[[0.4, 0.6], [0.6, 0.4]], [[0.9, 0.1], [0.1, 0.9]], [[0.5, 0.5], [0.5, 0.5]]])
    assert mc_error_curve(passes, labels, [1, 2, 3]) == [1.0, 0.0, 0.0]
