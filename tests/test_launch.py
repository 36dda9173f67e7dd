"""How a stage finds the DVC invocation it belongs to (its trainings are grouped by that key)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from pipeline.process import launch

ROOT = Path(__file__).resolve().parent.parent


def test_the_invocation_key_stays_when_the_system_clock_is_set(monkeypatch):
    """Two stages of one `dvc repro` must agree on its key even if the clock was set between them;
    a wall-clock start time (psutil's, from the boot time the clock implies) would move with it."""
    before = launch.new_invocation()
    booted = psutil.boot_time()
    monkeypatch.setattr(psutil._psplatform, "boot_time", lambda: booted + 3600.0)
    assert psutil.Process().create_time() - booted > 3600.0  # the wall-clock start time moved
    assert launch.new_invocation() == before


def test_a_stage_takes_the_key_of_its_dvc_ancestor(tmp_path: Path):
    """A process under a `dvc` process (a stand-in script named dvc) takes that process's key; a
    process run by hand has its own."""
    stage = "from pipeline.process import launch; print(launch.dvc_invocation(), launch.new_invocation())"
    dvc = tmp_path / "dvc"
    dvc.write_text(f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {stage!r}], check=True)\n")
    env = {key: value for key, value in os.environ.items() if key != launch.INVOCATION_ENV}
    fake = subprocess.Popen([sys.executable, str(dvc), "repro"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    out, _ = fake.communicate(timeout=120)
    inherited, own = out.split()
    assert inherited.split(":")[1] == str(fake.pid)
    assert own != inherited
