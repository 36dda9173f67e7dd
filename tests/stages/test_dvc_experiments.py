"""`dvc exp run -S` as the README shows it, in a real git repo (a temporary copy of this one, on
synthetic data, a tiny net): each experiment a row of `dvc exp show` with its own params and metrics,
`dvc metrics diff` and `dvc plots diff` between two revisions, a `model.dropout.rate` and a
`train.seed` the DVC matrix overrides, and the MLflow Project's `main` entry point running `dvc repro`.
One seed per rate: the seeds' own tests are in tests/stages/test_dvc_pipeline.py.

A repo of its own, apart from tests/stages/test_dvc_pipeline.py's, so the two files run side by side. The
tests share it and run in file order; each puts the workspace back to the baseline it changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers.dvc_repo import DVC, SUMMARY, VENV_BIN, make_repo, reproduce
from tests.helpers.dvc_repo import accuracy_of as _test_accuracy
from tests.helpers.dvc_repo import git as _git
from tests.helpers.dvc_repo import params as _params
from tests.helpers.dvc_repo import restore_baseline as _restore_baseline
from tests.helpers.dvc_repo import rows as _rows
from tests.helpers.dvc_repo import run as _run

# Slow tier: every test here runs or changes experiments.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The copy after one whole `dvc repro`, its small results committed: the baseline."""
    return reproduce(make_repo(tmp_path_factory.mktemp("dvc_exp"), {"sweep": {"seeds": [1]}}))


def _runs_of(repo: Path, experiment: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


def test_readme_exp_examples_give_rows_with_their_own_metrics(reproduced: Path):
    """The README's `dvc exp run` examples, scaled down: each row has its own params and metrics."""
    repo = reproduced
    baseline = _git(repo, "rev-parse", "HEAD").strip()
    try:
        _run(
            repo, DVC, "exp", "run", "-n", "two-rates", "-S", "train.epochs=1", "-S", "sweep.rates=[0.0,0.3]"
        )
        _restore_baseline(repo)  # each experiment starts from the baseline, not from the previous one
        _run(repo, DVC, "exp", "run", "-n", "small-data", "-S", "experiment=small_data",
             "-S", "data.train_size=120", "-S", "train.epochs=3")  # fmt: skip
    finally:
        _restore_baseline(repo)
    rows = _rows(json.loads(_run(repo, DVC, "exp", "show", "--json").stdout))
    base, two, small = rows[baseline], rows["two-rates"], rows["small-data"]

    assert _params(base)["train"]["epochs"] == 2 and _params(base)["data"]["train_size"] is None
    assert _params(two)["train"]["epochs"] == 1 and _params(two)["sweep"]["rates"] == [0.0, 0.3]
    assert _params(small)["train"]["epochs"] == 3 and _params(small)["data"]["train_size"] == 120
    accuracies = {
        name: _test_accuracy(row, "0.0") for name, row in (("base", base), ("two", two), ("small", small))
    }
    assert all(0.0 <= value <= 1.0 for value in accuracies.values())
    assert 0.0 <= _test_accuracy(two, "0.3") <= 1.0 and 0.0 <= _test_accuracy(small, "0.5") <= 1.0
    # A different config gives different numbers: each row reads its own commit, not the workspace.
    assert len(set(accuracies.values())) == 3, accuracies


def test_metrics_diff_and_plots_diff_between_two_revisions(reproduced: Path, tmp_path: Path):
    repo = reproduced
    rows = _rows(json.loads(_run(repo, DVC, "exp", "show", "--json").stdout))
    old, new = _git(repo, "rev-parse", "HEAD").strip(), rows["small-data"]["rev"]

    diff = json.loads(_run(repo, DVC, "metrics", "diff", old, new, "--json").stdout)
    accuracy = diff[SUMMARY]["rate_0.5.test_accuracy.mean"]
    assert isinstance(accuracy["old"], float) and isinstance(accuracy["new"], float)
    assert accuracy["diff"] == pytest.approx(accuracy["new"] - accuracy["old"])
    assert set(diff) == {SUMMARY}  # the runs' own files are no metrics

    out = tmp_path / "plots"
    _run(repo, DVC, "plots", "diff", old, new, "-o", str(out))
    html = (out / "index.html").read_text()
    assert old[:7] in html and new[:7] in html  # both revisions' data are in the rendered page
    assert "val_loss" in html and "predicted" in html  # learning curves and confusion matrices


def test_exp_run_with_a_rate_and_a_seed_still_trains_the_matrix_rates_and_seeds(reproduced: Path):
    """`-S model.dropout.rate=0.3 -S train.seed=7` set the defaults of interactive runs: under DVC
    every training's rate and seed are its matrix item's, from sweep.rates and sweep.seeds
    (docs/dvc.md), so the experiment trains 0.0 and 0.5 with seed 1. train.seed is no param of the
    stages: alone, it re-runs nothing."""
    repo = reproduced
    try:
        params = repo / "params.yaml"  # what `-S train.seed=7` writes before an experiment runs
        edited = yaml.safe_load(params.read_text())
        edited["train"]["seed"] = 7
        params.write_text(yaml.safe_dump(edited, sort_keys=False))
        assert "Data and pipelines are up to date" in _run(repo, DVC, "status").stdout
        _restore_baseline(repo)
        _run(repo, DVC, "exp", "run", "-n", "rate-default", "-S", "model.dropout.rate=0.3",
             "-S", "train.seed=7", "-S", "train.learning_rate=0.004")  # fmt: skip
    finally:
        _restore_baseline(repo)
    rows = _rows(json.loads(_run(repo, DVC, "exp", "show", "--json").stdout))
    row = rows["rate-default"]
    assert _params(row)["model"]["dropout"]["rate"] == 0.3 and _params(row)["train"]["seed"] == 7
    assert all(0.0 <= _test_accuracy(row, rate) <= 1.0 for rate in ("0.0", "0.5"))
    assert "rate_0.3" not in row["metrics"][SUMMARY]["data"]
    trained = sorted(
        (r.data.params["model.dropout.rate"], r.data.params["train.seed"])
        for r in _runs_of(repo, "dropout-lab")
        if r.data.params.get("train.learning_rate") == "0.004"
    )
    assert trained == [("0.0", "1"), ("0.5", "1")]


def test_mlflow_project_main_entry_point_makes_the_dvc_trainings_its_children(reproduced: Path):
    """`mlflow run -e main` runs `dvc repro`: a changed training param re-runs both trainings, each a
    child of the entry point's run (not the entry point's run itself). Leaves the workspace's DVC
    outputs at the changed param: keep this test last in the module."""
    repo = reproduced
    params = repo / "params.yaml"
    original = _run(repo, "git", "show", "HEAD:params.yaml").stdout  # earlier `exp run -S` may have edited it
    changed = yaml.safe_load(original)
    changed["train"]["learning_rate"] = 0.003
    params.write_text(yaml.safe_dump(changed, sort_keys=False))
    try:
        done = _run(
            repo, str(VENV_BIN / "mlflow"), "run", ".", "-e", "main", "--env-manager", "local",
            "--experiment-name", "pipeline",
        )  # fmt: skip
    finally:
        params.write_text(original)
    runs = _runs_of(repo, "pipeline")
    project = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(project) == 1, done.stderr[-2000:]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == project[0].info.run_id]
    assert sorted(r.data.params["model.dropout.rate"] for r in children) == ["0.0", "0.5"]  # seed 1
    assert {r.data.params["train.learning_rate"] for r in children} == {"0.003"}
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert all("test_accuracy" in r.data.metrics for r in children)
