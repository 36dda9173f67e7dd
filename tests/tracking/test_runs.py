"""Crash detection: a RUNNING run whose process is gone, or whose heartbeat stopped, is stale."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from pipeline.tracking.reconcile import process_start, why_stale
from pipeline.tracking.store import TrackedRun
from pipeline.tracking.tags import TAG_ENDED_BECAUSE, TAG_HEARTBEAT, TAG_HOST, TAG_PID, TAG_PROC_START

HOST = socket.gethostname()


def _running(tags: dict[str, str], start_ms: int = 0) -> TrackedRun:
    return TrackedRun("r" * 32, "RUNNING", {}, {}, tags, start_ms=start_ms)


def test_a_run_of_a_live_process_is_not_stale_and_of_a_dead_one_is():
    child = subprocess.Popen(["sleep", "60"])
    try:
        started = process_start(child.pid)
        assert started is not None and abs(started - time.time()) < 60
        tags = {TAG_HOST: HOST, TAG_PID: str(child.pid), TAG_PROC_START: f"{started:.2f}", TAG_HEARTBEAT: "0"}
        assert why_stale(_running(tags), stale_after_s=1.0) is None  # old heartbeat, live process
    finally:
        child.kill()
        child.wait()
    assert process_start(child.pid) is None
    assert why_stale(_running(tags), stale_after_s=1e9) == f"process {child.pid} on {HOST} is gone"


def test_a_reused_pid_is_told_apart_by_its_start_time():
    child = subprocess.Popen(["sleep", "60"])
    try:
        started = process_start(child.pid)
        assert started is not None
        tags = {TAG_HOST: HOST, TAG_PID: str(child.pid), TAG_PROC_START: f"{started - 3600:.2f}"}
        assert "belongs to a process started later" in why_stale(_running(tags), stale_after_s=1e9)
    finally:
        child.kill()
        child.wait()


def test_a_run_of_another_host_is_judged_by_its_heartbeat():
    now = 1_000_000.0
    tags = {TAG_HOST: "elsewhere", TAG_PID: "1", TAG_HEARTBEAT: f"{now - 50:.3f}"}
    assert why_stale(_running(tags), stale_after_s=60, now=now) is None
    reason = why_stale(_running(tags), stale_after_s=30, now=now)
    assert reason == "no heartbeat from elsewhere for 50 s (tracking.stale_after_s = 30)"
    # Before its first heartbeat, a run's start time stands in for it; a run that does not say
    # where it runs (another tool's) is never judged.
    elsewhere = {TAG_HOST: "elsewhere"}
    assert why_stale(_running(elsewhere, start_ms=int((now - 100) * 1000)), stale_after_s=30, now=now)
    assert why_stale(_running({}, start_ms=0), stale_after_s=30, now=now) is None


@pytest.mark.slow
def test_reconcile_ends_a_dead_processs_run_failed_and_says_so(tmp_path):
    """A run left RUNNING by a process that is gone (here: created with a dead pid's identity)."""
    import os
    import sys
    from pathlib import Path

    from mlflow import MlflowClient

    root = Path(__file__).resolve().parents[2]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("dropout-lab", artifact_location=(tmp_path / "a").as_uri())
    dead = subprocess.Popen(["true"])
    dead.wait()
    tags = {
        TAG_HOST: HOST,
        TAG_PID: str(dead.pid),
        TAG_PROC_START: "1.00",
        TAG_HEARTBEAT: f"{time.time():.3f}",
    }
    crashed = client.create_run(experiment, tags=tags).info.run_id
    ours = {TAG_PID: str(os.getpid()), TAG_PROC_START: f"{process_start(os.getpid()):.2f}"}
    alive = client.create_run(experiment, tags={**tags, **ours})

    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.tracking.reconcile", "reconcile"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{crashed}: RUNNING -> FAILED (process {dead.pid} on {HOST} is gone)" in done.stdout
    assert alive.info.run_id not in done.stdout
    run = client.get_run(crashed)
    assert run.info.status == "FAILED"
    assert run.data.tags[TAG_ENDED_BECAUSE] == f"process {dead.pid} on {HOST} is gone"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"
