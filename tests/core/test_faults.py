"""Faults of the file system, for real: a file-size limit (RLIMIT_FSIZE) and a read-only folder.

Each is a clear error naming the file, a non-zero exit, and the previous good file intact.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

# Slow tier: fault injection (file-size limits, read-only folders) in training processes.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 64 * 1024


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def run_limited(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a Python child that may write no file beyond LIMIT bytes."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT, preexec_fn=_limit_file_size, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


WRITE_BIG = """
import sys
from pipeline.core.atomic import write_text_atomic
from pipeline.process.exit import reported_as_exit

with reported_as_exit():
    write_text_atomic(sys.argv[1], "x" * 200_000)
"""


def test_a_file_size_limit_leaves_the_previous_file_and_names_the_file(tmp_path: Path):
    target = tmp_path / "metrics.json"
    target.write_text("previous good\n")
    done = run_limited(WRITE_BIG, str(target))
    assert done.returncode == 2
    assert f"could not write {target} (File too large)" in done.stderr
    assert "Traceback" not in done.stderr
    assert target.read_text() == "previous good\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no temp file left


def test_a_training_that_cannot_write_its_checkpoint_fails_cleanly(tmp_path: Path):
    """A model whose checkpoint (weights and Adam's two moments, ~5 MB) exceeds a 2 MB file-size
    limit that every other file of the run stays under: the first checkpoint write fails."""
    from mlflow import MlflowClient

    from tests.helpers.process_runs import SLOW_EPOCHS, make_project, run_training

    root, data = make_project(tmp_path, n_train=200)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    overrides = [*data, *SLOW_EPOCHS, "model.hidden_units=[512]", "train.epochs=2"]
    good = run_training(root, uri, *overrides)
    assert good.returncode == 0, good.stderr[-3000:]
    model = root / "outputs" / "run" / "model.keras"
    before = model.read_bytes()

    limit = 2 * 1024 * 1024
    done = run_training(
        root, uri, *overrides,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert f"error: could not write {root / 'checkpoints'}/" in done.stderr
    assert "epoch-0001" in done.stderr
    assert model.read_bytes() == before  # the previous good model is untouched
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("dropout-lab").experiment_id])
    assert sorted(run.info.status for run in runs) == ["FAILED", "FINISHED"]
    leftovers = [p.name for p in (root / "checkpoints").rglob("*") if p.name.startswith(".")]
    assert leftovers == []
