"""The whole DVC pipeline in a real git repo: a temporary copy of this one, on synthetic data
served as a local mirror, with a tiny net, as a DVC user works with it: `dvc repro`, results
committed with the code, what a change of params or code re-runs, the MLflow Project entry points,
a folder remote pushed to and pulled from, queued experiments, and a forced re-run that must
reproduce the committed `dvc.lock` byte for byte. tests/stages/test_dvc_experiments.py runs `dvc exp run
-S` (the README's examples), `dvc exp show`, `dvc metrics diff` and `dvc plots diff` in a repo of its own.

The tests share one repo and run in file order: the baseline commit is made once, experiments
are added to it, and the workspace is put back to the baseline after each test that moves it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers.dvc_repo import (
    DVC,
    ITEMS,
    LABELS,
    RATES,
    SUMMARY,
    VENV_BIN,
    make_repo,
    repro_output,
    reproduce,
)
from tests.helpers.dvc_repo import accuracy_of as _test_accuracy
from tests.helpers.dvc_repo import git as _git
from tests.helpers.dvc_repo import params as _params
from tests.helpers.dvc_repo import rows as _rows
from tests.helpers.dvc_repo import run as _run

# What a DVC user commits beside the code: small results (`cache: false`). Large ones are cached.
COMMITTED = [
    "dvc.lock",
    "data/processed/mnist.json",
    SUMMARY,
    *(f"metrics/{kind}/{label}.json" for kind in ("train", "eval") for label in LABELS),
    *(f"plots/history/{label}.csv" for label in LABELS),
    *(f"plots/confusion/{label}.csv" for label in LABELS),
    *(f"plots/png/{label}/{name}" for label in LABELS for name in ("reliability.csv", "reliability.png",
                                                                    "confusion.png")),
    *(f"reports/{name}" for name in ("comparison.md", "comparison.json", "learning_curves.csv",
                                     "per_class_accuracy.csv")),
    *(f"reports/{name}.png" for name in ("learning_curves", "gap_vs_rate", "reliability")),
]  # fmt: skip
CACHED = ["data/raw/mnist", "data/processed/mnist.npz", *(f"models/{label}" for label in LABELS)]
TRAININGS = {f"train@{item}" for item in ITEMS}
EVALUATIONS = {f"evaluate@{item}" for item in ITEMS}


# The fast tier keeps the whole tiny `dvc repro` (the `reproduced` fixture) and three tests that read
# its results; the tests that change params, code, clones or queues run in the slow tier.


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repo holding this project's files (committed or not, minus ignored ones), tiny settings."""
    return make_repo(tmp_path_factory.mktemp("dvc"))


@pytest.fixture(scope="module")
def reproduced(repo: Path) -> Path:
    """The copy after one whole `dvc repro`, its small results committed: the baseline."""
    return reproduce(repo)


def test_repro_trains_every_rate_with_every_seed_then_has_nothing_to_do(reproduced: Path):
    """2 rates x 2 seeds: four trainings and evaluations, one comparison over the seeds."""
    repo = reproduced
    for label in LABELS:
        assert (repo / "models" / label / "model.keras").is_file()
        evaluation = json.loads((repo / "metrics" / "eval" / f"{label}.json").read_text())
        assert 0.0 <= evaluation["test_accuracy"] <= 1.0
        assert json.loads((repo / "models" / label / "run.json").read_text())["seed"] == int(label[-1])
    second = _run(repo, DVC, "repro")
    assert "Data and pipelines are up to date" in second.stdout


def test_the_report_gives_intervals_over_the_seeds_and_tests_dropout_against_none_by_seed(reproduced: Path):
    report = (reproduced / "reports" / "comparison.md").read_text()
    assert "Complete runs per rate: 2 (seeds 1, 2)." in report
    assert re.search(r"^\| 0 \| 2 \| [0-9.]+ ± [0-9.]+ \|", report, re.MULTILINE), report
    assert re.search(r"^\| 0\.5 \| 2 \| [0-9.]+ ± [0-9.]+ \|", report, re.MULTILINE), report
    compared = json.loads((reproduced / "reports" / "comparison.json").read_text())
    paired = {test["metric"]: test for test in compared["paired"]}
    assert set(paired) == {"test_accuracy", "test_nll", "val_loss_rise_rel"}
    for test in paired.values():
        assert (test["label"], test["against"], test["seeds"], test["n"]) == ("rate 0.5", "rate 0", [1, 2], 2)
        assert test["low"] <= test["difference"] <= test["high"]
    assert any(test["p_value"] is not None and 0.0 <= test["p_value"] <= 1.0 for test in paired.values())


def test_dvc_metrics_show_gives_one_summary_per_rate_and_no_run_of_its_own(reproduced: Path):
    shown = json.loads(_run(reproduced, DVC, "metrics", "show", "--json").stdout)
    files = next(iter(shown.values()))["data"]
    assert set(files) == {SUMMARY}  # the runs' own JSON files are outputs, not metrics
    summary = files[SUMMARY]["data"]
    assert set(summary) == {"rate_0.0", "rate_0.5"}
    for rate in summary.values():
        assert set(rate) == {"test_accuracy", "test_nll", "val_loss_rise_rel"}
        for found in rate.values():
            assert set(found) == {"mean", "low", "high"}
            assert found["low"] <= found["mean"] <= found["high"]  # two seeds: an interval
    compared = json.loads((reproduced / "reports" / "comparison.json").read_text())
    rows = {row["rate"]: row for row in compared["rows"]}
    assert summary["rate_0.5"]["test_accuracy"]["mean"] == pytest.approx(
        rows[0.5]["test_accuracy_mean"], abs=1e-6
    )


@pytest.mark.slow
def test_a_training_param_reruns_training_never_the_data_stages(reproduced: Path):
    repo = reproduced
    params = repo / "params.yaml"
    original = params.read_text()
    changed = yaml.safe_load(original)
    changed["train"]["learning_rate"] = 0.002
    params.write_text(yaml.safe_dump(changed, sort_keys=False))
    try:
        dry = _run(repo, DVC, "repro", "--dry").stdout
    finally:
        params.write_text(original)
    # A dry run lists the stages whose own inputs changed; evaluate and compare follow from
    # their outputs. Download and preprocess are never among them.
    ran = {line.split("'")[1] for line in dry.splitlines() if line.startswith("Running stage")}
    assert ran == TRAININGS


def _stages_after_editing(repo: Path, module: str) -> set[str]:
    """The stages `dvc repro --dry` would run after a comment is added to `module`."""
    path = repo / module
    original = path.read_text()
    path.write_text(original + "\n# an edit\n")
    try:
        dry = _run(repo, DVC, "repro", "--dry").stdout
    finally:
        path.write_text(original)
    return {line.split("'")[1] for line in dry.splitlines() if line.startswith("Running stage")}


@pytest.mark.slow
def test_editing_recording_code_reruns_nothing_editing_the_training_loop_retrains(reproduced: Path):
    repo = reproduced
    for module in (
        "pipeline/tracking/store.py",
        "pipeline/tracking/record.py",
        "pipeline/tracking/reconcile.py",
        "pipeline/tools/ui.py",
    ):
        assert _stages_after_editing(repo, module) == set(), module
    assert _stages_after_editing(repo, "pipeline/reporting/comparison.py") == {"compare"}
    assert _stages_after_editing(repo, "pipeline/training/loop.py") >= TRAININGS


def test_editing_plumbing_or_evaluation_code_leaves_every_training_up_to_date(reproduced: Path):
    """Process plumbing is no stage's dep; evaluation code re-runs evaluations and the comparison,
    never a training."""
    repo = reproduced
    for module in (
        "pipeline/process/launch.py",
        "pipeline/process/interrupts.py",
        "pipeline/process/stage.py",
    ):
        assert _stages_after_editing(repo, module) == set(), module
    for module in ("pipeline/evaluation/plots.py", "pipeline/evaluation/scoring.py"):
        ran = _stages_after_editing(repo, module)
        assert ran >= EVALUATIONS, module
        assert not {stage for stage in ran if stage.startswith("train@")}, (module, ran)


def test_each_matrix_items_lines_carry_its_label_and_its_evaluation_ends_with_test_accuracy_run_and_files(
    reproduced: Path,
):
    """A DVC matrix item is a job of a sweep (`make run` runs them side by side): its epoch lines
    and its evaluation's last lines carry its label; the evaluate stage, where test accuracy is
    computed, ends with it, the MLflow run that trained the model and where the files are."""
    from mlflow import MlflowClient

    stages = repro_output(reproduced)
    client = MlflowClient(tracking_uri=f"sqlite:///{reproduced / 'mlflow.db'}")
    for item, label in zip(ITEMS, LABELS, strict=True):
        rate, seed = item.split("-")
        tag = f"[rate={rate} seed={seed}]"
        epochs = [m.split("  ")[0] for m in stages[f"train@{item}"] if "  loss " in m]
        assert epochs == [f"{tag} epoch 1", f"{tag} epoch 2"], stages[f"train@{item}"]
        run_file = reproduced / "outputs" / "dvc" / f"{label}.mlflow_run.json"
        run_id = json.loads(run_file.read_text())["run_id"]
        run = client.get_run(run_id)
        accuracy = json.loads((reproduced / "metrics" / "eval" / f"{label}.json").read_text())[
            "test_accuracy"
        ]
        assert run.data.metrics["test_accuracy"] == accuracy
        last = stages[f"evaluate@{item}"][-3:]
        assert last[0].startswith(f"{tag} test accuracy {accuracy:.4f}"), last
        page = f"http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/{run_id}"
        assert last[1].startswith(f"{tag} MLflow run {run_id}: {page} (start the UI with `"), last
        assert last[2] == (
            f"{tag} files: models/{label}, metrics/eval/{label}.json, plots/png/{label}, "
            f"metrics/train/{label}.json, plots/history/{label}.csv, plots/confusion/{label}.csv"
        )


def test_small_results_are_committed_and_large_ones_cached(reproduced: Path):
    repo = reproduced
    tracked = set(_git(repo, "ls-files").split())
    assert set(COMMITTED) <= tracked
    assert not any(name.startswith(("models/", "data/raw/")) or name.endswith(".npz") for name in tracked)
    assert _git(repo, "status", "--porcelain") == ""  # nothing DVC wrote was left out of the commit
    ignored = _run(repo, "git", "check-ignore", *CACHED).stdout.split()
    assert ignored == CACHED
    # Kept small enough to commit on every run: PNGs a few tens of kB, the per-sample confusion
    # CSVs a few bytes per test image (see the README for the numbers of the real MNIST run).
    for name in COMMITTED:
        if name.endswith(".png"):
            assert (repo / name).stat().st_size < 100_000, name


@pytest.mark.slow
def test_mlflow_project_train_entry_point_logs_into_its_own_run(reproduced: Path):
    repo = reproduced
    done = _run(
        repo, str(VENV_BIN / "mlflow"), "run", ".", "-e", "train", "--env-manager", "local",
        "--experiment-name", "project", "-P", "rate=0.3", "-P", "epochs=1",
    )  # fmt: skip
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("project").experiment_id])
    assert len(runs) == 1, done.stderr[-2000:]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["model.dropout.rate"] == "0.3"
    assert run.data.params["train.epochs"] == "1"
    assert "test_accuracy" in run.data.metrics


def _client(repo: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")


def _runs_of(repo: Path, experiment: str) -> list:
    client = _client(repo)
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


def test_one_dvc_repro_groups_its_trainings_under_one_parent_with_the_report(reproduced: Path):
    from pipeline.tracking.tags import TAG_COMMIT, TAG_DVC_INVOCATION, TAG_ROLE, TAG_SOURCE

    runs = _runs_of(reproduced, "dropout-lab")
    groups = [r for r in runs if r.data.tags.get(TAG_SOURCE) == "dvc" and
              r.data.tags.get(TAG_ROLE) == "sweep"]  # fmt: skip
    assert len(groups) >= 1
    group = groups[-1]  # the first repro's (later tests add their own)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == group.info.run_id]
    seen = [(r.data.tags.get(TAG_DVC_INVOCATION), r.data.tags.get("mlflow.parentRunId")) for r in runs]
    trained = sorted((r.data.params["model.dropout.rate"], r.data.params["train.seed"]) for r in children)
    assert trained == [("0.0", "1"), ("0.0", "2"), ("0.5", "1"), ("0.5", "2")], seen
    assert {r.info.status for r in [group, *children]} == {"FINISHED"}
    assert all("test_accuracy" in r.data.metrics for r in children)  # the evaluate stages joined them
    assert all(len(r.data.tags[TAG_COMMIT]) == 40 for r in children)
    logged = {a.path for a in _client(reproduced).list_artifacts(group.info.run_id, "report")}
    assert "report/comparison.md" in logged


@pytest.mark.slow
def test_mlflow_project_sweep_entry_point_keeps_parent_and_children_in_one_experiment(reproduced: Path):
    """As a new user types it, without --experiment-name: MLflow puts the entry point's run (the
    sweep's parent) in its Default experiment, so the children and the report must follow it there."""
    from pipeline.tracking.tags import TAG_ROLE

    done = _run(
        reproduced, str(VENV_BIN / "mlflow"), "run", ".", "-e", "sweep", "--env-manager", "local",
        "-P", "rates=0,0.5", "-P", "seeds=1", "-P", "epochs=1",
    )  # fmt: skip
    runs = _runs_of(reproduced, "Default")
    parents = [r for r in runs if r.data.tags.get(TAG_ROLE) == "sweep"]
    assert len(parents) == 1, done.stderr[-2000:]
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.params["model.dropout.rate"] for r in children) == ["0.0", "0.5"]
    assert {r.info.status for r in [parent, *children]} == {"FINISHED"}
    logged = {a.path for a in _client(reproduced).list_artifacts(parent.info.run_id, "report")}
    assert "report/comparison.md" in logged


@pytest.mark.slow
def test_push_then_a_fresh_clone_pulls_everything_and_has_nothing_to_reproduce(reproduced: Path):
    """The default remote (a folder beside the repo, from .dvc/config) shares the cache: no retraining."""
    repo = reproduced
    pushed = _run(repo, DVC, "push").stdout
    remote = repo.parent / "dropout-lab-dvc-remote"
    assert remote.is_dir() and any(remote.rglob("*")), pushed
    clone = repo.parent / "clone"
    _run(repo.parent, "git", "clone", "-q", str(repo), str(clone))
    # the clone's default remote resolves beside the clone: point it at the same folder (the README's
    # `dvc remote modify --local`, the per-machine setting that is never committed)
    _run(clone, DVC, "remote", "modify", "--local", "shared", "url", str(remote))
    _run(clone, DVC, "pull")
    status = _run(clone, DVC, "status").stdout
    assert "Data and pipelines are up to date" in status, status
    again = _run(clone, DVC, "repro").stdout
    assert "Running stage" not in again and "Data and pipelines are up to date" in again, again
    for name in ("models/rate_0.5_seed_2/model.keras", "data/processed/mnist.npz"):
        assert (clone / name).read_bytes() == (repo / name).read_bytes()


@pytest.mark.slow
def test_a_forced_rerun_in_another_clone_reproduces_the_lock_byte_for_byte(reproduced: Path):
    """Same config and seed, another folder and time: every output, models included, has the same
    bytes, so `dvc.lock` and the committed small results do not change."""
    clone = reproduced.parent / "clone"
    if not (clone / "models").is_dir():
        pytest.skip("needs the pulled clone of the previous test")
    _run(clone, DVC, "repro", "--force")
    changed = _run(clone, "git", "status", "--porcelain").stdout
    assert changed == "", (
        f"a forced re-run changed:\n{changed}\n{_run(clone, 'git', 'diff', 'HEAD', 'dvc.lock').stdout}"
    )


def _queue_idle(repo: Path) -> bool:
    status = _run(repo, DVC, "queue", "status").stdout
    return not any(word in status for word in ("Queued", "Running"))


@pytest.mark.slow
def test_queued_experiments_run_in_parallel_workers_and_all_reach_mlflow(reproduced: Path):
    """`dvc exp run --queue` twice, `dvc queue start -j 2`: both rows in `dvc exp show`, and every
    training of both in the repo's default MLflow store, although each worker runs in a temporary
    clone that DVC deletes afterwards. The store exists already (the baseline `dvc repro` made it),
    so the workers never race to create it."""
    repo = reproduced
    # Learning rates no other test here uses: DVC's run cache would let a later `dvc repro` with
    # the same params restore these outputs instead of training (and logging) again.
    for name, rate in (("queued-a", "0.005"), ("queued-b", "0.02")):
        _run(repo, DVC, "exp", "run", "--queue", "-n", name, "-S", f"train.learning_rate={rate}")
    try:
        _run(repo, DVC, "queue", "start", "-j", "2", default_store=True)
        deadline = time.monotonic() + 900  # a wait for the workers, not a speed check
        while not _queue_idle(repo):
            assert time.monotonic() < deadline, _run(repo, DVC, "queue", "status").stdout
            time.sleep(5)
    finally:
        _run(repo, DVC, "queue", "stop", ok=False)
    status = _run(repo, DVC, "queue", "status").stdout
    assert "Failed" not in status, status + _run(repo, DVC, "queue", "logs", "queued-a", ok=False).stdout
    rows = _rows(json.loads(_run(repo, DVC, "exp", "show", "--json").stdout))
    for name, rate in (("queued-a", 0.005), ("queued-b", 0.02)):
        assert _params(rows[name])["train"]["learning_rate"] == rate
        assert all(0.0 <= _test_accuracy(rows[name], r) <= 1.0 for r in RATES)

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("dropout-lab")
    runs = client.search_runs([experiment.experiment_id], "params.`train.learning_rate` != '0.001'")
    trained = sorted(
        (
            r.data.params["train.learning_rate"],
            r.data.params["model.dropout.rate"],
            r.data.params["train.seed"],
        )
        for r in runs
    )
    assert trained == [(lr, rate, seed) for lr in ("0.005", "0.02") for rate in RATES for seed in ("1", "2")]
    assert all(r.info.status == "FINISHED" and "test_accuracy" in r.data.metrics for r in runs)
