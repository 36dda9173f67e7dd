"""A multirun cancelled with SIGTERM: parent and unfinished children end KILLED, nothing left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from pipeline.tracking.tags import TAG_ROLE
from tests.helpers.process_runs import ROOT, SLOW_EPOCHS, env_for, make_project

# Slow tier: a multirun cancelled by SIGTERM mid-sweep.
pytestmark = pytest.mark.slow


def _checkpointed_runs(root: Path) -> set[str]:
    found = set()
    for manifest in (root / "checkpoints").glob("*/latest.json"):
        found.add(json.loads(manifest.read_text())["run_id"])
    return found


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_sigterm_to_a_multirun_ends_parent_and_children_killed(tmp_path: Path):
    root, data = make_project(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = [
        sys.executable, "-m", "pipeline.train", "-m", "model.dropout.rate=0,0.5", *data, *SLOW_EPOCHS,
        "train.epochs=50", f"hydra.sweep.dir={root}/multirun",
    ]  # fmt: skip
    sweep = subprocess.Popen(
        command, cwd=ROOT, env=env_for(root, uri), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while len(_checkpointed_runs(root)) < 2 and time.monotonic() < deadline:
            assert sweep.poll() is None, sweep.communicate()[1][-3000:]
            time.sleep(0.1)
        assert len(_checkpointed_runs(root)) == 2, "both jobs should be training"
        sweep.send_signal(signal.SIGTERM)  # the sweep's own process only, as a job system would
        _, stderr = sweep.communicate(timeout=120)
        deadline = time.monotonic() + 60
        while not _group_gone(sweep.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _group_gone(sweep.pid), "a job of the sweep is still running"
    finally:
        if not _group_gone(sweep.pid):
            os.killpg(sweep.pid, signal.SIGKILL)

    assert sweep.returncode == 143, stderr[-3000:]
    assert "Traceback" not in stderr
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("dropout-lab").experiment_id])
    roles = {run.info.run_id: run.data.tags.get(TAG_ROLE) for run in runs}
    assert sorted(roles.values()) == ["sweep", "train", "train"]
    assert {run.info.status for run in runs} == {"KILLED"}
