"""Each paper preset runs as a real Hydra multirun in miniature, and the paper report is drawn from its store.

Miniature: synthetic MNIST files, a 16-unit net, 1 epoch, 1 seed, two points per sweep; the presets'
own sweep (hydra.sweeper.params) is narrowed by command-line overrides of the same keys. Also: the
presets' DVC side (the rates of the DVC `train` matrix agree with the multirun's) and the rule that
picks a preset's latest batch of runs (tests/stages/test_dvc_paper_presets.py runs the real DVC experiments).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.core.params import compose_config
from pipeline.core.paths import CONF_DIR
from pipeline.reporting.paper import PRESETS, runs_frame, write_paper_report
from pipeline.reporting.run_batches import (
    dvc_batch,
    latest_batch,
    latest_preset_runs,
    newest_per_point,
    sweep_batch,
)
from pipeline.tracking.store import TrackedRun
from pipeline.tracking.tags import TAG_DVC_BASELINE
from tests.helpers.synthetic import SyntheticMnist, downloaded_project, synthetic_overrides

# Slow tier: the paper presets' sweeps, in miniature.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
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


def _composed(*overrides: str) -> dict:
    return yaml.safe_load(compose_config(list(overrides)))


def _swept(preset: str, key: str, kind: type) -> list:
    """The values a preset's own multirun sweeps `key` over."""
    swept = yaml.safe_load((CONF_DIR / "experiment" / f"{preset}.yaml").read_text())["hydra"]["sweeper"]
    return [kind(value) for value in str(swept["params"][key]).split(",")]


def test_the_dvc_matrix_runs_what_each_preset_means():
    """`dvc exp run -S experiment=<preset>` trains `sweep.rates` x `sweep.seeds`: Fig. 9's rates and
    seeds (the same as the multirun's), the dropout net alone and once for Table 2, and each recipe's
    own rate with the multirun's seeds for Fig. 10."""
    rates = _composed("experiment=paper_rates")["sweep"]
    assert rates["rates"] == _swept("paper_rates", "model.dropout.rate", float)
    assert rates["seeds"] == _swept("paper_rates", "train.seed", int)

    table2 = _composed("experiment=paper_table2")
    assert table2["sweep"]["rates"] == [table2["model"]["dropout"]["rate"]] == [0.5]
    assert table2["sweep"]["seeds"] == [table2["train"]["seed"]]
    for recipe, rate in (("dropout", 0.5), ("standard", 0.0)):
        sizes = _composed("experiment=paper_sizes", f"paper_recipe={recipe}")
        assert sizes["sweep"]["rates"] == [sizes["model"]["dropout"]["rate"]] == [rate]
        assert sizes["sweep"]["seeds"] == _swept("paper_sizes", "train.seed", int)


def test_every_preset_names_itself_in_tracking_preset():
    """What pipeline.reporting.run_batches finds a DVC experiment's runs by (they have no sweep parent)."""
    presets = sorted(path.stem for path in (CONF_DIR / "experiment").glob("*.yaml"))
    assert set(PRESETS) <= set(presets)
    assert {p: _composed(f"experiment={p}")["tracking"]["preset"] for p in presets} == {p: p for p in presets}
    assert _composed()["tracking"]["preset"] is None


def _run(
    start_s: int, seed: int, rate: float = 0.5, baseline: str = "a", seconds: float | None = 10.0
) -> TrackedRun:
    params = {"model.dropout.rate": str(rate), "train.seed": str(seed), "data.train_size": "100"}
    tags = {TAG_DVC_BASELINE: baseline}
    return TrackedRun(f"{baseline}{start_s}", "FINISHED", params, {}, tags, seconds, start_s * 1000)


def test_a_dvc_batch_is_the_newest_runs_baseline_and_a_repeated_point_counts_once():
    runs = [_run(0, 1, baseline="old"), _run(100, 1), _run(105, 2), _run(130, 1), _run(120, 1, rate=0.0)]
    batch = dvc_batch(runs)
    assert batch is not None
    assert sorted(run.run_id for run in batch.runs) == ["a100", "a105", "a120", "a130"]
    assert batch.seconds == pytest.approx(40.0)  # from the first start (100 s) to the last end (140 s)
    assert batch.last_start_ms == 130_000
    # seed 1 at rate 0.5 ran twice in the batch (re-queued, say): the newer run counts
    assert [run.run_id for run in newest_per_point(batch.runs)] == ["a105", "a120", "a130"]
    assert dvc_batch([_run(0, 1), _run(5, 2, seconds=None)]).seconds is None  # one still running
    assert dvc_batch([]) is None


def test_the_latest_batch_of_a_preset_is_its_newest_sweep_or_dvc_batch_never_a_mix():
    parent = TrackedRun("p", "FINISHED", {"sweep.overrides": "experiment=paper_rates"}, {}, {}, 50.0, 200_000)
    sweep = sweep_batch(parent, [_run(210, 1, baseline="h"), _run(220, 2, baseline="h")])
    older_dvc, newer_dvc = dvc_batch([_run(100, 1)]), dvc_batch([_run(300, 3)])
    assert latest_batch(sweep, older_dvc) is sweep
    assert latest_batch(sweep, newer_dvc) is newer_dvc
    assert latest_batch(None, older_dvc) is older_dvc
    assert latest_batch(None, None) is None
    assert sweep.seconds == 50.0 and sweep.last_start_ms == 220_000
