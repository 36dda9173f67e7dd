"""The paper presets as DVC experiments, in a real git repo on synthetic data: `dvc exp run -S
experiment=paper_table2`, a queued grid of `paper_rates` seeds (DVC's own `-S 'key=a,b'` syntax) run
by `dvc queue start -j 2`, and `python -m pipeline.paper_report` drawing the paper's figures from those runs.

Miniature: the presets shrunk by more `-S` overrides (a 16-unit net, 1 epoch, 100 images, two rates).
The tests share one repo and run in file order; each leaves the workspace at the baseline commit.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.core.config import TrackingConfig
from pipeline.reporting.paper import runs_frame, write_paper_report
from pipeline.reporting.run_batches import latest_preset_runs
from pipeline.tracking.store import Store
from tests.helpers.commands import run_to_files
from tests.helpers.project_copy import copy_project
from tests.helpers.synthetic import write_synthetic_mnist

# Slow tier: dvc repro and dvc exp runs of the paper presets, in miniature.
pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent
DVC = str(VENV_BIN / "dvc")
TINY = ["-S", "model.hidden_units=[16]", "-S", "train.epochs=1"]
CFG = TrackingConfig(uri=None, experiment="dropout-lab", log_model=False, stale_after_s=3600)


def _run(repo: Path, *args: str) -> str:
    """Run a command in `repo` (MLflow logs to the repo's mlflow.db); its stdout, or fail with its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DROPOUT_LAB_", "MLFLOW_"))}
    env |= {"PATH": f"{VENV_BIN}{os.pathsep}{env['PATH']}", "MLFLOW_TRACKING_URI": _uri(repo)}
    done = run_to_files(args, repo, env)
    assert done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _uri(repo: Path) -> str:
    return f"sqlite:///{repo / 'mlflow.db'}"


def _git(repo: Path, *args: str) -> str:
    return _run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", *args)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repo holding this project's files, its data mirror the synthetic files, and an MLflow store
    made before any queue worker starts (workers would otherwise race to create it)."""
    base = tmp_path_factory.mktemp("dvc_paper")
    mirror = base / "mirror"
    md5s = write_synthetic_mnist(mirror, n_train=300, n_test=60, seed=0)
    repo = copy_project(base / "repo")
    config_file = repo / "conf" / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["data"] = {"mirrors": [str(mirror)], "files": {key: {"md5": md5} for key, md5 in md5s.items()}}
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    _run(repo, sys.executable, "-m", "pipeline.core.params")
    _run(repo, "git", "init", "-q")
    _run(repo, "git", "add", "-A")
    _git(repo, "commit", "-qm", "copy")
    Store(_uri(repo))
    return repo


def _restore_baseline(repo: Path) -> None:
    _run(repo, "git", "reset", "-q", "--hard")
    _run(repo, "git", "clean", "-fdq")  # the experiment's small results (the baseline has none)


def _rows(repo: Path) -> dict[str, dict[str, Any]]:
    """`dvc exp show --json` experiment rows by name (queued ones too), with their rev."""
    rows = {}
    for commit in json.loads(_run(repo, DVC, "exp", "show", "--json")):
        for experiment in commit.get("experiments") or []:
            for rev in experiment["revs"]:
                rows[rev["name"]] = {**rev["data"], "rev": rev["rev"]}
    return rows


def _params(row: dict[str, Any]) -> dict[str, Any]:
    return row["params"]["params.yaml"]["data"]


def _presets(repo: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _uri(repo))
    return {run.preset: run for run in latest_preset_runs(CFG)}


def test_paper_table2_experiment_trains_the_dropout_net_alone_and_shows_its_mc_curve(
    repo: Path, monkeypatch: pytest.MonkeyPatch
):
    try:
        _run(repo, DVC, "exp", "run", "-n", "table2", "-S", "experiment=paper_table2", *TINY,
             "-S", "eval.mc_samples=4", "-S", "eval.mc_curve=[1,2,4]")  # fmt: skip
    finally:
        _restore_baseline(repo)
    row = _rows(repo)["table2"]
    assert _params(row)["sweep"] == {"rates": [0.5], "seeds": [42]}
    assert _params(row)["tracking"]["preset"] == "paper_table2"
    assert set(row["metrics"]["metrics/summary.json"]["data"]) == {"rate_0.5"}
    # the one training's evaluation, committed with the experiment
    evaluation = json.loads(_run(repo, "git", "show", f"{row['rev']}:metrics/eval/rate_0.5_seed_42.json"))
    curve = evaluation["mc_curve_error"]
    assert set(curve) == {"1", "2", "4"} and all(0.0 <= error <= 1.0 for error in curve.values())

    table2 = _presets(repo, monkeypatch)["paper_table2"]
    assert [(r["rate"], r["status"]) for r in table2.rows] == [(0.5, "FINISHED")]  # only the preset's rate
    assert table2.rows[0]["mc_curve_error.4"] == pytest.approx(curve["4"])
    assert table2.seconds is not None and table2.seconds > 0


def test_a_paper_sizes_grid_queues_one_experiment_per_point_each_recipe_with_its_rate(repo: Path):
    """DVC's Hydra composition takes the config group `paper_recipe` from `-S` like any key."""
    _run(repo, DVC, "exp", "run", "--queue", "-n", "sizes", "-S", "experiment=paper_sizes",
         "-S", "data.train_size=100,500", "-S", "paper_recipe=dropout,standard")  # fmt: skip
    try:
        rows = _rows(repo)
    finally:
        _run(repo, DVC, "queue", "remove", "--queued")
    queued = sorted(
        (
            p["data"]["train_size"],
            p["sweep"]["rates"],
            p["sweep"]["seeds"],
            p["model"]["dropout"]["input_rate"],
            p["train"]["learning_rate"],
        )
        for p in (_params(rows[f"sizes-{n}"]) for n in range(1, 5))
    )
    assert queued == [
        (100, [0.0], [1, 2, 3], 0.0, 0.05),
        (100, [0.5], [1, 2, 3], 0.2, 0.01),
        (500, [0.0], [1, 2, 3], 0.0, 0.05),
        (500, [0.5], [1, 2, 3], 0.2, 0.01),
    ]


def _queue_idle(repo: Path) -> bool:
    return not any(word in _run(repo, DVC, "queue", "status") for word in ("Queued", "Running"))


def test_queued_paper_rates_experiment_gives_fig9_two_seeds_per_p(
    repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """One queued experiment whose DVC matrix trains every rate with both seeds: one batch."""
    _run(repo, DVC, "exp", "run", "--queue", "-n", "rates", "-S", "experiment=paper_rates", *TINY,
         "-S", "sweep.seeds=[1,2]", "-S", "sweep.rates=[0.0,0.5]", "-S", "data.train_size=100")  # fmt: skip
    try:
        _run(repo, DVC, "queue", "start", "-j", "2")
        deadline = time.monotonic() + 900  # a wait for the workers, not a speed check
        while not _queue_idle(repo):
            assert time.monotonic() < deadline, _run(repo, DVC, "queue", "status")
            time.sleep(5)
    finally:
        _run(repo, DVC, "queue", "stop")
    status = _run(repo, DVC, "queue", "status")
    assert "Failed" not in status, status
    assert _params(_rows(repo)["rates"])["sweep"]["seeds"] == [1, 2]

    presets = _presets(repo, monkeypatch)
    rates = presets["paper_rates"]
    assert sorted((r["rate"], r["seed"], r["status"]) for r in rates.rows) == [
        (0.0, 1, "FINISHED"), (0.0, 2, "FINISHED"), (0.5, 1, "FINISHED"), (0.5, 2, "FINISHED"),
    ]  # fmt: skip
    assert "paper_table2" in presets  # the earlier experiment's preset is still found
    runs = runs_frame(presets.values())
    written = write_paper_report(runs, {p: r.seconds for p, r in presets.items()}, tmp_path / "paper")
    assert {path.name for path in written} >= {"paper_fig9_error_vs_p.png", "paper_fig11_mc_vs_k.png"}
    table = (tmp_path / "paper" / "paper_comparison.md").read_text()
    assert "| Fig. 9: " in table and "| 4/4 |" in table and "p=1.0: " in table and "p=0.5: " in table
