"""Team scale: sweeps into a real PostgreSQL-backed `mlflow server`, on a local Ray cluster, under load,
with the submitit launcher, and `make run`'s trainings side by side (tests/tools/test_team_server.py: the
server crashed, with basic auth). Every server runs on loopback and is stopped at the end."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from pipeline.tracking.tags import TAG_FINGERPRINT, TAG_ROLE, TAG_SOURCE, TAG_SWEEP
from tests.helpers.dvc_repo import make_repo, run
from tests.helpers.synthetic import SyntheticMnist, downloaded_project, synthetic_overrides
from tests.helpers.team_fixtures import TrackingServer, ray_cluster, tracking_server
from tests.helpers.team_sweeps import TINY
from tests.helpers.team_sweeps import epoch_points as _epoch_points
from tests.helpers.team_sweeps import every_epoch as _every_epoch
from tests.helpers.team_sweeps import finish as _finish
from tests.helpers.team_sweeps import runs_in as _runs
from tests.helpers.team_sweeps import start_sweep as _sweep

# Slow tier: real PostgreSQL + mlflow server, a Ray cluster, sweeps under load (minutes).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared_server() -> Iterator[TrackingServer]:
    with tracking_server() as running:
        yield running


def test_a_ray_sweep_logs_parent_children_and_report_to_the_server(
    shared_server: TrackingServer, synthetic_mnist: SyntheticMnist, tmp_path: Path
):
    root = downloaded_project(tmp_path, synthetic_mnist)
    data = synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s)
    with ray_cluster(num_cpus=2) as address:
        launcher = ["hydra/launcher=ray", f"hydra.launcher.ray.init.address={address}"]
        grid = ["model.dropout.rate=0,0.5", "train.seed=1,2", "train.epochs=2"]
        code, output = _finish(
            _sweep(root, shared_server.url, "ray", *launcher, *grid, *data, *TINY), root, "ray"
        )
    assert code == 0, output[-3000:]
    assert "Connected to Ray cluster" in output and "(_run_job pid=" in output  # jobs ran on Ray workers
    for label in ("rate=0 seed=1", "rate=0 seed=2", "rate=0.5 seed=1", "rate=0.5 seed=2"):
        assert f"[{label}] epoch 2  loss" in output  # the keys the sweep varies reached the Ray workers

    client = MlflowClient(tracking_uri=shared_server.url)
    runs = [r for r in _runs(shared_server.url) if r.data.tags.get(TAG_SWEEP)]
    sweep_ids = {r.data.tags[TAG_SWEEP] for r in runs if r.data.tags[TAG_ROLE] == "sweep"}
    assert len(sweep_ids) == 1
    runs = [r for r in runs if r.data.tags[TAG_SWEEP] in sweep_ids]
    (parent,) = [r for r in runs if r.data.tags[TAG_ROLE] == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 5 and len(children) == 4
    assert {r.info.status for r in runs} == {"FINISHED"}
    grid_seen = {(r.data.params["model.dropout.rate"], r.data.params["train.seed"]) for r in children}
    assert grid_seen == {("0.0", "1"), ("0.0", "2"), ("0.5", "1"), ("0.5", "2")}
    assert all(_epoch_points(client, r.info.run_id) == _every_epoch(2) for r in children)
    for child in children:  # each run's data, as the runs table's Dataset column shows it
        (logged,) = child.inputs.dataset_inputs
        assert logged.dataset.name == "mnist"
        assert logged.dataset.digest == child.data.tags[TAG_FINGERPRINT][:32]
        sizes = {tag.key: tag.value for tag in logged.tags if tag.key.endswith("_size")}
        assert sizes == {"train_size": "160", "validation_size": "40", "test_size": "50"}
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/comparison.md" in report
    # Artifacts went through the server into its folder; nothing was written beside the project.
    stored = [p.name for p in shared_server.layout.artifacts.rglob("comparison.md")]
    assert stored == ["comparison.md"]
    assert not (root / "mlflow.db").exists() and not (root / "mlartifacts").exists()


def test_three_sweeps_at_once_record_every_run_and_epoch(
    shared_server: TrackingServer, synthetic_mnist: SyntheticMnist, tmp_path: Path
):
    root = downloaded_project(tmp_path, synthetic_mnist)
    data = synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s)
    experiment = "three-at-once"
    common = [
        "model.dropout.rate=0,0.5",
        "train.seed=1,2",
        "train.epochs=5",
        f"tracking.experiment={experiment}",
    ]
    names = [f"load{i}" for i in range(3)]
    # One job at a time per sweep: three sweeps already keep both cores busy.
    started = [
        _sweep(root, shared_server.url, n, *common, "hydra.launcher.n_jobs=1", *data, *TINY) for n in names
    ]
    for name, process in zip(names, started, strict=True):
        code, output = _finish(process, root, name)
        assert code == 0, output[-3000:]

    client = MlflowClient(tracking_uri=shared_server.url)
    runs = _runs(shared_server.url, experiment)
    parents = [r for r in runs if r.data.tags[TAG_ROLE] == "sweep"]
    trainings = [r for r in runs if r.data.tags[TAG_ROLE] == "train"]
    assert len(parents) == 3 and len(trainings) == 12
    assert {r.info.status for r in runs} == {"FINISHED"}
    parent_ids = {p.info.run_id for p in parents}
    per_parent = [r.data.tags["mlflow.parentRunId"] for r in trainings]
    assert {p: per_parent.count(p) for p in parent_ids} == dict.fromkeys(parent_ids, 4)
    points = [_epoch_points(client, r.info.run_id) for r in trainings]
    assert points == [_every_epoch(5)] * 12  # 12 x 5 metrics x 5 epochs


def test_a_submitit_local_sweep_groups_its_jobs_under_one_parent(
    synthetic_mnist: SyntheticMnist, tmp_path: Path
):
    root = downloaded_project(tmp_path, synthetic_mnist)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data = synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s)
    launcher = ["hydra/launcher=submitit_local"]
    grid = ["model.dropout.rate=0,0.5", "train.epochs=2"]
    code, output = _finish(_sweep(root, uri, "submitit", *launcher, *grid, *data, *TINY), root, "submitit")
    assert code == 0, output[-3000:]
    runs = _runs(uri)
    (parent,) = [r for r in runs if r.data.tags[TAG_ROLE] == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 3 and len(children) == 2
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert "report/comparison.md" in {
        a.path for a in MlflowClient(uri).list_artifacts(parent.info.run_id, "report")
    }


def test_make_run_groups_its_side_by_side_trainings_under_one_parent_on_the_server(
    shared_server: TrackingServer, tmp_path: Path
):
    """As on SQLite (tests/tools/test_parallel_repro.py): `make run` makes the parent first and hands it to
    every `dvc repro` it starts side by side, so a server's trainings have nothing to converge on."""
    settings = {"sweep": {"rates": [0.0, 0.2, 0.5], "seeds": [1]}, "tracking": {"experiment": "make-run"}}
    repo = make_repo(tmp_path, settings)
    run(repo, sys.executable, "-m", "pipeline.tools.repro", tracking_uri=shared_server.url)
    runs = _runs(shared_server.url, "make-run")
    (parent,) = [r for r in runs if r.data.tags[TAG_ROLE] == "sweep" and r.data.tags[TAG_SOURCE] == "dvc"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 4
    assert sorted(r.data.params["model.dropout.rate"] for r in children) == ["0.0", "0.2", "0.5"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert all("test_accuracy" in r.data.metrics for r in children)  # the evaluate stages joined them
    client = MlflowClient(tracking_uri=shared_server.url)
    assert "report/comparison.md" in {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    everything = client.search_runs([parent.info.experiment_id], run_view_type=ViewType.ALL)
    assert len(everything) == 4, "no parent made and deleted on the way"
