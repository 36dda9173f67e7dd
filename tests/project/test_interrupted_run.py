"""A test run stopped by SIGTERM or Ctrl-C leaves no server, cluster or worker process behind.

Each case runs pytest on tests/helpers/interrupted_session.py, whose test holds a real PostgreSQL +
`mlflow server` (the team-scale fixture) and a stray process in its tmp_path, stops it with the signal
once they are up, and looks for any of their processes after pytest has exited.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.tools import server
from tests.helpers.interrupted_session import READY
from tests.helpers.team_fixtures import ROOT, processes_naming


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "workers"),
    [("SIGTERM", []), ("SIGTERM", ["-n", "1"]), ("Ctrl-C", ["-n", "1"])],
    ids=["sigterm", "sigterm-xdist", "ctrl-c-xdist"],
)
def test_a_stopped_run_leaves_no_process_behind(stop: str, workers: list[str], tmp_path: Path):
    ready = tmp_path / "ready.json"
    inner = tmp_path / "inner"
    argv = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={inner}",
        *(workers or ["-p", "no:xdist"]), str(ROOT / "tests" / "helpers" / "interrupted_session.py"),
    ]  # fmt: skip
    with (tmp_path / "pytest.out").open("w") as out:
        run = subprocess.Popen(
            argv, cwd=ROOT, env={**os.environ, READY: str(ready)}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's process group: Ctrl-C signals every process in it
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not ready.exists():
            assert run.poll() is None, (tmp_path / "pytest.out").read_text()
            assert time.monotonic() < deadline, "the servers did not come up"
            time.sleep(0.5)
        time.sleep(0.5)  # the file is written whole, but let the test reach its sleep
        info = json.loads(ready.read_text())
        pids = {name: info[name] for name in ("postgres", "mlflow", "stray", "test")}
        assert all(_alive(pid) for pid in pids.values()), pids
        if stop == "Ctrl-C":
            os.killpg(run.pid, signal.SIGINT)
        else:
            os.kill(run.pid, signal.SIGTERM)
        code = run.wait(timeout=180)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    output = (tmp_path / "pytest.out").read_text()
    assert code == pytest.ExitCode.INTERRUPTED, output
    assert not {name: pid for name, pid in pids.items() if _alive(pid)}, output
    assert not server.group_members(pids["mlflow"]), output  # uvicorn and its workers
    assert not server.group_members(run.pid), output  # pytest's xdist workers
    assert not processes_naming(info["folder"]), output
    assert not processes_naming(str(inner)), output
    assert not Path(info["folder"]).exists(), output
