"""How a stage finds the DVC invocation it belongs to (a lone `dvc repro` groups its trainings by it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from pipeline.process import launch

ROOT = Path(__file__).resolve().parents[2]
PROBE = "import os; from pipeline.process import launch; print(launch.dvc_invocation(), os.getpid())"


def test_the_invocation_key_stays_when_the_system_clock_is_set(monkeypatch):
    """Two stages of one `dvc repro` must agree on its key even if the clock was set between them;
    a wall-clock start time (psutil's, from the boot time the clock implies) would move with it."""
    before = launch.dvc_invocation()
    booted = psutil.boot_time()
    monkeypatch.setattr(psutil._psplatform, "boot_time", lambda: booted + 3600.0)
    assert psutil.Process().create_time() - booted > 3600.0  # the wall-clock start time moved
    assert launch.dvc_invocation() == before


def test_a_stage_takes_the_key_of_its_dvc_ancestor_and_one_run_by_hand_its_own(tmp_path: Path):
    """A process under a `dvc` process (a stand-in script named dvc) takes that process's key; a
    process run by hand has its own."""
    dvc = tmp_path / "dvc"
    dvc.write_text(f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {PROBE!r}], check=True)\n")
    fake = subprocess.Popen([sys.executable, str(dvc), "repro"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    key, _ = fake.communicate(timeout=120)[0].split()
    assert key.split(":")[1] == str(fake.pid)
    by_hand = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True)
    key, pid = by_hand.stdout.split()
    assert key.split(":")[1] == pid != str(os.getpid())
