"""A test session that tests/project/test_interrupted_run.py stops with a signal while its servers run.

Not collected on its own (not named test_*.py), and its test skips unless that test runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.team_fixtures import TrackingServer, tracking_server

READY = "DROPOUT_LAB_INTERRUPT_READY"


@pytest.fixture
def server() -> Iterator[TrackingServer]:
    if not os.environ.get(READY):
        pytest.skip("run by tests/project/test_interrupted_run.py")
    with tracking_server() as running:
        yield running


def test_waits_for_a_signal_while_servers_run(server: TrackingServer, tmp_path: Path):
    # A process no finalizer knows about, in a session of its own, working in tmp_path: what
    # `dvc queue start` leaves behind, or a training whose `dvc` parent was killed.
    stray = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(900)"], cwd=tmp_path, start_new_session=True
    )
    postmaster = int((server.settings.cluster(server.layout).data / "postmaster.pid").read_text().split()[0])
    mlflow = int(server.layout.mlflow_pid.read_text())
    info = {"folder": str(server.layout.root), "postgres": postmaster, "mlflow": mlflow, "stray": stray.pid}
    Path(os.environ[READY]).write_text(json.dumps({**info, "test": os.getpid()}))
    time.sleep(900)
