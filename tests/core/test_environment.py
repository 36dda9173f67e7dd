"""Every run records the environment its numbers depend on; the record is exact enough to tell two
environments apart, and stays out of DVC's outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from pipeline.core import environment, numerics
from pipeline.core.layout import run_dir_files
from pipeline.process.launch import Launch, Source
from pipeline.runs.tracked_training import train_tracked
from pipeline.tracking.tags import TAG_ENV_PREFIX

ROOT = Path(__file__).resolve().parents[2]


def test_cpu_model_and_the_isa_flags_that_matter_are_read(tmp_path: Path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse4_2 avx avx2 fma bmi2\n")
    assert environment.cpu_model_and_flags(cpuinfo) == ("AMD EPYC 7B13", ["sse4_2", "avx", "avx2", "fma"])


def test_the_lock_hash_follows_the_lock(tmp_path: Path):
    lock = tmp_path / "uv.lock"
    assert environment.lock_hash(lock) == "none"
    lock.write_text("a")
    first = environment.lock_hash(lock)
    lock.write_text("b")
    assert environment.lock_hash(lock) != first


def test_the_record_holds_versions_cpu_and_pins():
    described = environment.describe()
    assert described["lock"] == environment.lock_hash(ROOT / "uv.lock") != "none"
    assert described["version.numpy"] and described["version.keras"] and described["python"]
    assert all(f"{key}={value}" in described["pins"] for key, value in numerics.PINS.items())


def test_compare_names_what_differs(tmp_path: Path):
    other = dict(environment.describe(), cpu="Some Other CPU")
    saved = tmp_path / "env.json"
    saved.write_text(json.dumps(other))
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.core.environment", "--compare", str(saved)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "cpu: 'Some Other CPU' there" in done.stdout and "1 difference(s)" in done.stdout


def test_a_training_run_carries_the_environment_as_tags(tiny_settings, tiny_data, mlflow_store, tmp_path):
    files = run_dir_files(tmp_path / "run")
    run_id, _ = train_tracked(tiny_settings, tiny_data, Launch(Source.HYDRA), files)
    tags = MlflowClient().get_run(run_id).data.tags
    recorded = {
        key.removeprefix(TAG_ENV_PREFIX): value
        for key, value in tags.items()
        if key.startswith(TAG_ENV_PREFIX)
    }
    assert recorded == environment.describe()
    assert not any("lock" in path.name for path in files.model_dir.iterdir())
    assert environment.lock_hash(ROOT / "uv.lock") not in files.run_info.read_text()
