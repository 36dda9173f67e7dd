"""Each paper preset runs as a real Hydra multirun in miniature, and the paper report is drawn from its store.

Miniature: synthetic MNIST files, a 16-unit net, 1 epoch, 1 seed, two points per sweep; the presets'
own sweep (hydra.sweeper.params) is narrowed by command-line overrides of the same keys.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic import SyntheticMnist, downloaded_project, synthetic_overrides

from pipeline.paper import runs_frame, write_paper_report
from pipeline.paper_report import latest_preset_runs

ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "model.hidden_units=[16]",
    "train.epochs=1",
    "train.seed=1",
    "tracking.log_model=false",
    "hydra.launcher.n_jobs=1",
]
MINIATURES = {
    "paper_rates": ["model.dropout.rate=0,0.5", "data.train_size=100"],
    "paper_sizes": ["data.train_size=50,100", "paper_recipe=dropout,standard"],
    "paper_table2": ["train.batch_size=32", "eval.mc_samples=4", "eval.mc_curve=[1,2,4]"],
}


def _multirun(root: Path, uri: str, preset: str, overrides: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DROPOUT_LAB_ROOT": str(root), "MLFLOW_TRACKING_URI": uri}
    env.pop("MLFLOW_RUN_ID", None)
    command = [sys.executable, "-m", "pipeline.train", "-m", f"experiment={preset}", *overrides,
               f"hydra.sweep.dir={root}/multirun/{preset}"]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_each_paper_preset_runs_in_miniature_and_the_report_draws_them(
    synthetic_mnist: SyntheticMnist, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    root = downloaded_project(tmp_path, synthetic_mnist)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data = synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s)
    for preset, overrides in MINIATURES.items():
        done = _multirun(root, uri, preset, [*data, *TINY, *overrides])
        assert done.returncode == 0, f"{preset}:\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    presets = {run.preset: run for run in latest_preset_runs(synthetic_mnist.settings.tracking)}
    assert sorted(presets) == sorted(MINIATURES)
    assert all(run.seconds is not None and run.seconds > 0 for run in presets.values())
    runs = runs_frame(presets.values())
    assert (runs["status"] == "FINISHED").all()
    assert sorted(runs.loc[runs["preset"] == "paper_rates", "rate"]) == [0.0, 0.5]
    sizes = runs[runs["preset"] == "paper_sizes"]
    # The recipe group gives each size a dropout run and a standard run (no dropout, no max-norm).
    assert sorted(zip(sizes["train_size"], sizes["rate"], strict=True)) == [
        (50, 0.0),
        (50, 0.5),
        (100, 0.0),
        (100, 0.5),
    ]
    assert set(sizes.loc[sizes["rate"] == 0, "input_rate"]) == {0.0}
    table2 = runs[runs["preset"] == "paper_table2"]
    assert list(table2["hidden_units"]) == ["[16]"]
    assert {"mc_curve_error.1", "mc_curve_error.2", "mc_curve_error.4"} <= set(runs.columns)
    assert table2["mc_curve_error.4"].between(0, 1).all()

    written = write_paper_report(runs, {p: r.seconds for p, r in presets.items()}, tmp_path / "paper")
    assert sorted(path.name for path in written) == [
        "paper_comparison.md",
        "paper_fig10_error_vs_size.png",
        "paper_fig11_mc_vs_k.png",
        "paper_fig9_error_vs_p.png",
    ]
