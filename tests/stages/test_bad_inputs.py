"""Bad inputs that are not config: each a clear error naming the file or URI, a non-zero exit, and
nothing half-written. Real processes, real files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers.process_runs import (
    SLOW_EPOCHS,
    preprocessed_project,
    read_only_for_child,
    run_stage,
)

# Slow tier: damaged inputs and unreachable servers, each met by a stage run in its own process.
pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str, list[str]]:
    """A project with preprocessed synthetic data: its root, a store URI, the data overrides."""
    root, data = preprocessed_project(tmp_path)
    return root, f"sqlite:///{tmp_path / 'mlflow.db'}", data


def _nothing_trained(root: Path) -> bool:
    return not list(root.glob("outputs/**/model.keras")) and not list(root.glob("checkpoints/*/*"))


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_processed_file_is_named(project, damage: str):
    root, uri, data = project
    npz = root / "data" / "processed" / "mnist.npz"
    raw = bytearray(npz.read_bytes())
    if damage == "truncated":
        npz.write_bytes(raw[: len(raw) // 2])
    else:
        raw[len(raw) // 2 : len(raw) // 2 + 64] = bytes(64)  # zeroes inside an array entry
        npz.write_bytes(bytes(raw))
    done = run_stage("train", root, uri, *data, *SLOW_EPOCHS, "train.epochs=1")
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: {npz}" in done.stderr and "Traceback" not in done.stderr
    assert "python -m pipeline.preprocess" in done.stderr  # what to do
    assert _nothing_trained(root)


def _run_dir(root: Path, fingerprint: str) -> Path:
    run_dir = root / "outputs" / "made"
    run_dir.mkdir(parents=True)
    (run_dir / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    (run_dir / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,gap\n1,1,0.5,1,0.5,0\n")
    info = {
        "run_id": "0" * 32,
        "tracking_uri": "sqlite:///unused.db",
        "data_fingerprint": fingerprint,
        "seed": 1,
    }
    (run_dir / "run.json").write_text(json.dumps(info))
    return run_dir


def test_evaluate_names_a_missing_a_corrupt_model_and_a_damaged_run_json(project):
    root, uri, data = project
    fingerprint = json.loads((root / "data" / "processed" / "mnist.json").read_text())["fingerprint"]
    run_dir = _run_dir(root, fingerprint)

    def evaluate() -> subprocess.CompletedProcess[str]:
        return run_stage("evaluate", root, uri, *data, env={"DROPOUT_LAB_RUN_DIR": str(run_dir)})

    done = evaluate()
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: {run_dir / 'model.keras'} is not a readable Keras model" in done.stderr

    (run_dir / "run.json").write_text('{"run_id": "0000')  # cut short
    done = evaluate()
    assert done.returncode == 2 and f"error: {run_dir / 'run.json'} is damaged" in done.stderr

    (run_dir / "model.keras").unlink()
    done = evaluate()
    assert done.returncode == 2 and f"{run_dir / 'model.keras'} is missing" in done.stderr
    for result in (done,):
        assert "Traceback" not in result.stderr
    assert not (run_dir / "eval_metrics.json").exists()


def test_a_tracking_server_nobody_answers_is_named_quickly(project):
    root, _, data = project
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    done = run_stage("train", root, uri, *data, *SLOW_EPOCHS, "train.epochs=1")
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: the tracking server {uri} does not answer" in done.stderr
    assert "Traceback" not in done.stderr
    assert _nothing_trained(root)


def test_a_read_only_project_folder_is_named_before_any_work(project):
    root, uri, data = project
    before = sorted(root.rglob("*"))
    prefix = read_only_for_child([root, *(p for p in root.rglob("*") if p.is_dir())])
    try:
        import sys

        done = subprocess.run(
            [*prefix, sys.executable, "-m", "pipeline.train", *data, *SLOW_EPOCHS, "train.epochs=1"],
            cwd=root, env={**os.environ, "DROPOUT_LAB_ROOT": str(root), "MLFLOW_TRACKING_URI": uri,
                           "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            text=True, capture_output=True, timeout=300,
        )  # fmt: skip
    finally:
        for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: the project folder {root} is not writable" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(root.rglob("*")) == before
