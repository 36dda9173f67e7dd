"""The team tracking server (PostgreSQL + `mlflow server`, `python -m pipeline.tools.server`) for real: a
sweep outlives a crash and restart of the mlflow server, basic auth refuses anonymous requests, and a
server folder PostgreSQL cannot reach is refused. Each test starts a server of its own on loopback and
stops it at the end (tests/tools/test_team_scale.py shares one between its sweeps)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from pipeline.tracking.tags import TAG_ROLE
from tests.helpers.synthetic import SyntheticMnist, downloaded_project, synthetic_overrides
from tests.helpers.team_fixtures import ROOT, tracking_server
from tests.helpers.team_sweeps import TINY
from tests.helpers.team_sweeps import epoch_points as _epoch_points
from tests.helpers.team_sweeps import every_epoch as _every_epoch
from tests.helpers.team_sweeps import finish as _finish
from tests.helpers.team_sweeps import runs_in as _runs
from tests.helpers.team_sweeps import start_sweep as _sweep

# Slow tier: real PostgreSQL + mlflow server, one per test.
pytestmark = pytest.mark.slow


def test_a_sweep_outlives_a_crash_and_restart_of_the_mlflow_server(
    synthetic_mnist: SyntheticMnist, tmp_path: Path
):
    root = downloaded_project(tmp_path, synthetic_mnist)
    data = synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s)
    with tracking_server() as running:
        grid = ["model.dropout.rate=0,0.5", "train.epochs=5", "hydra.launcher.n_jobs=1"]
        process = _sweep(root, running.url, "crash", *grid, *data, *TINY)
        client = MlflowClient(tracking_uri=running.url)
        while process.poll() is None:  # crash the server once the first training has logged an epoch
            trainings = [r for r in _runs(running.url) if r.data.tags.get(TAG_ROLE) == "train"]
            if any(client.get_metric_history(r.info.run_id, "loss") for r in trainings):
                break
            time.sleep(0.2)
        assert process.poll() is None, "the sweep ended before the crash"
        running.kill_mlflow()
        time.sleep(3)  # requests in between fail; MLflow's client retries them
        running.start_mlflow()
        code, output = _finish(process, root, "crash")
        runs = _runs(running.url)
        statuses = {r.info.run_id: r.info.status for r in runs}
        assert "RUNNING" not in statuses.values(), statuses
        failed = [r for r in runs if r.info.status != "FINISHED"]
        if failed:  # allowed, but only loudly: a non-zero exit that says what happened
            assert code != 0 and "error" in output.lower(), output[-3000:]
        else:
            assert code == 0, output[-3000:]
        for run in runs:
            if run.data.tags[TAG_ROLE] == "train" and run.info.status == "FINISHED":
                assert _epoch_points(client, run.info.run_id) == _every_epoch(5)
        assert len([r for r in runs if r.data.tags[TAG_ROLE] == "train"]) == 2, output[-3000:]


def test_basic_auth_refuses_anonymous_requests_and_accepts_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    with tracking_server(auth=True) as running:
        request = urllib.request.Request(
            f"{running.url}/api/2.0/mlflow/experiments/search",
            data=json.dumps({"max_results": 1}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 401

        user, password = running.layout.credentials.read_text().split("\n")[:2]
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        client = MlflowClient(tracking_uri=running.url)
        run = client.create_run(client.create_experiment("with-auth"))
        client.log_metric(run.info.run_id, "loss", 0.5, step=1)
        client.set_terminated(run.info.run_id)
        assert client.get_run(run.info.run_id).data.metrics == {"loss": 0.5}

        # The password is only in the owner-only credentials file: not in configs, logs or settings.
        for path in running.layout.root.rglob("*"):
            if path.is_file() and path != running.layout.credentials and path.stat().st_size < 50_000_000:
                assert password.encode() not in path.read_bytes(), path
        assert oct(running.layout.credentials.stat().st_mode & 0o777) == "0o600"


def test_a_server_folder_postgres_cannot_reach_is_refused_with_its_name(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("only root hands PostgreSQL to the postgres user")  # CI and these machines: root
    folder = tmp_path / "server"  # pytest's tmp folders are 0700: the postgres user cannot enter
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.tools.server", "start", "--port", "1", "--pg-port", "1"],
        cwd=ROOT, env={**os.environ, "DROPOUT_LAB_SERVER_DIR": str(folder)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "cannot write" in done.stderr and str(folder) in done.stderr and "Traceback" not in done.stderr
    assert not (folder / "postgres" / "data").exists()
