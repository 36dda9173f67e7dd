"""SIGTERM and SIGHUP behave like Ctrl-C: cleanup runs, one line is printed, the exit status says why."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time
from pathlib import Path
from pipeline.process import interrupts

marker = Path(sys.argv[1])
with interrupts.reported():
    try:
        marker.write_text("started")
        time.sleep(60)
    except KeyboardInterrupt as exc:
        interrupts.summarize(exc, f"job KILLED by {interrupts.signal_name(exc)}")
        raise
    finally:
        marker.write_text("cleaned up")
"""


@pytest.mark.parametrize(
    ("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)]
)
def test_a_cancel_signal_runs_cleanup_and_exits_with_its_status(tmp_path: Path, sig: int, status: int):
    marker = tmp_path / "marker"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(marker)], cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(sig)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == status
    assert marker.read_text() == "cleaned up"
    assert stderr.strip() == f"job KILLED by {signal.Signals(sig).name}"


DEFERRING_CHILD = """
import os, signal, sys
from pipeline.process import interrupts

with interrupts.reported():
    with interrupts.deferred():
        os.kill(os.getpid(), signal.SIGTERM)
        print("block finished", flush=True)
    print("never here", flush=True)
"""


def test_a_signal_inside_a_deferred_block_is_raised_when_the_block_ends():
    done = subprocess.run(
        [sys.executable, "-c", DEFERRING_CHILD], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 143
    assert done.stdout == "block finished\n"
    assert done.stderr.strip() == "interrupted by SIGTERM"
