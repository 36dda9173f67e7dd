"""The tracking store: several processes at once on a fresh SQLite file, a server that does not
answer, and the parent run of one DVC invocation."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from pipeline.tracking.tags import TAG_ROLE

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4

CHILD = """
import sys
from pipeline.tracking.groups import start_sweep
from pipeline.tracking.store import Store
from pipeline.core.config import TrackingConfig

cfg = TrackingConfig(uri=sys.argv[1], experiment="race", log_model=False, stale_after_s=3600)
print(start_sweep(Store.open(cfg), "race", sys.argv[2], [], "hydra", {}))
"""


def _start(script: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def _printed(children: list[subprocess.Popen[str]]) -> set[str]:
    """What the children printed, once every one has exited successfully."""
    outcomes = [(child.communicate(timeout=300), child.returncode) for child in children]
    for (_, stderr), status in outcomes:
        assert status == 0, stderr[-3000:]
    return {stdout.strip() for (stdout, _), _ in outcomes}


@pytest.mark.slow
def test_processes_that_start_together_on_a_fresh_store_all_succeed(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_ids = _printed([_start(CHILD, uri, f"sweep{i}") for i in range(PROCESSES)])

    client = MlflowClient(tracking_uri=uri)
    experiments = [e for e in client.search_experiments() if e.name == "race"]
    assert len(experiments) == 1
    runs = client.search_runs([experiments[0].experiment_id])
    assert {run.info.run_id for run in runs} == run_ids and len(run_ids) == PROCESSES
    assert {run.data.tags[TAG_ROLE] for run in runs} == {"sweep"}


def test_a_tracking_server_that_refuses_or_never_answers_fails_within_seconds():
    import socket

    import pytest

    from pipeline.tracking.connect import StoreUnreachable, check_reachable

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        refused = probe.getsockname()[1]
    with pytest.raises(StoreUnreachable, match=f"http://127.0.0.1:{refused} does not answer"):
        check_reachable(f"http://127.0.0.1:{refused}", timeout_s=1.0, window_s=2.0)

    with socket.socket() as silent:  # accepts connections (the kernel does), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(StoreUnreachable, match="does not answer"):
            check_reachable(uri, timeout_s=1.0, window_s=2.0)
        assert time.monotonic() - start < 30


def test_the_stages_of_one_dvc_invocation_share_one_parent_and_an_empty_one_is_dropped(tmp_path: Path):
    """A lone `dvc repro` runs its trainings one after another: the first makes the parent, the
    next finds it by the invocation's key; another invocation gets its own. `make run`'s parent,
    made up front, is deleted when nothing was trained."""
    from pipeline.tracking import groups
    from pipeline.tracking.store import Store

    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = store.experiment_id("dvc")
    first = groups.dvc_group(store, experiment, "host:1:2.00", None, {})
    store.client.set_terminated(first, "FINISHED")  # its first training ended it
    assert groups.dvc_group(store, experiment, "host:1:2.00", None, {}) == first
    assert store.run(first).status == "RUNNING"  # the next training runs in it
    assert groups.dvc_group(store, experiment, "host:3:4.00", "exp", {}) != first
    empty = groups.start_dvc_group(store, experiment, {})
    groups.close_dvc_group(store, empty)
    assert store.client.get_run(empty).info.lifecycle_stage == "deleted"
