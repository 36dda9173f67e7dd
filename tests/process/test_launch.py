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


def test_a_jobs_label_is_its_values_of_the_swept_keys_short_names_for_common_ones():
    overrides = ["experiment=quick", "model.dropout.rate=0.5", "train.seed=2", "+tags.team=vision", "~eval"]
    swept = ["model.dropout.rate", "train.seed", "tags.team"]
    assert launch.job_label(overrides, swept) == "rate=0.5 seed=2 +tags.team=vision"
    # Keys the sweep does not vary are left out; without the sweep's keys, every override counts.
    assert launch.job_label(overrides, ["train.seed"]) == "seed=2"
    assert launch.job_label(overrides, []) == ""
    assert launch.job_label(["model.dropout.rate=0.0", "data.train_size=500"]) == "rate=0.0 train_size=500"
    assert (
        launch.job_label(["paper_recipe=dropout", "model.max_norm=3"])
        == "paper_recipe=dropout model.max_norm=3"
    )


def test_a_labelled_jobs_lines_start_with_its_label_and_a_lone_runs_with_nothing():
    assert launch.Launch(launch.Source.MULTIRUN, label="rate=0.5 seed=2").line_prefix == "[rate=0.5 seed=2] "
    assert launch.Launch(launch.Source.HYDRA).line_prefix == ""
