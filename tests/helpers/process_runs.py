"""Helpers for tests that run `python -m pipeline.train` as a real process in a throwaway project."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.synthetic import synthetic_overrides, write_synthetic_mnist

ROOT = Path(__file__).resolve().parents[2]
# Small and slow enough per epoch (800 training images, batches of 4, one step per call) that a
# test can act between epochs.
SLOW_EPOCHS = [
    "model.hidden_units=[16]",
    "train.batch_size=4",
    "train.steps_per_execution=1",
    "tracking.log_model=false",
    "eval.mc_samples=0",
]

# Lines libraries print that must not reach a stage's or a sweep's output: TensorFlow's oneDNN
# notice through its absl log (twice per process), MLflow's note of the uv project it finds for each
# logged model, its progress bar per downloaded artifact and its notes on creating a new store,
# Keras' progress bar of a prediction (`1/1 ━━━━ 0s 5ms/step`), and the joblib launcher's settings.
LIBRARY_NOISE = (
    "oneDNN custom operations are on",
    "absl::InitializeLog()",
    "Detected uv project",
    "Creating initial MLflow database tables",
    "Downloading artifacts",
    "/step",
    "Joblib.Parallel(",
)


def make_project(base: Path, n_train: int = 1000) -> tuple[Path, list[str]]:
    """A project root whose data/raw/mnist holds synthetic MNIST; the overrides that accept it."""
    root = base / "project"
    raw = root / "data" / "raw" / "mnist"
    md5s = write_synthetic_mnist(raw, n_train=n_train, n_test=100, seed=0)
    return root, synthetic_overrides(raw, md5s)


def env_for(root: Path, uri: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DROPOUT_LAB_"))}
    return {**env, "DROPOUT_LAB_ROOT": str(root), "MLFLOW_TRACKING_URI": uri}


def train_command(root: Path, overrides: tuple[str, ...], run_dir: str) -> list[str]:
    """A single training whose Hydra folder is `<root>/outputs/<run_dir>`."""
    return [sys.executable, "-m", "pipeline.train", *overrides, f"hydra.run.dir={root}/outputs/{run_dir}"]


def start_training(root: Path, uri: str, *overrides: str, run_dir: str = "run") -> subprocess.Popen[str]:
    return subprocess.Popen(
        train_command(root, overrides, run_dir), cwd=ROOT, env=env_for(root, uri), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def run_training(
    root: Path, uri: str, *overrides: str, run_dir: str = "run", **run: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        train_command(root, overrides, run_dir), cwd=ROOT, env=env_for(root, uri), text=True,
        capture_output=True, timeout=600, **run,
    )  # fmt: skip


def wait_for_epoch(root: Path, child: subprocess.Popen[str], epoch: int) -> tuple[str, int]:
    """Poll `checkpoints/*/latest.json` until a checkpoint of `epoch` or later exists: (run id, epoch)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for manifest in (root / "checkpoints").glob("*/latest.json"):
            meta = json.loads(manifest.read_text())
            if meta["epoch"] >= epoch:
                return meta["run_id"], meta["epoch"]
        if child.poll() is not None:
            raise AssertionError(f"training ended before epoch {epoch}: {child.communicate()[1][-3000:]}")
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint of epoch {epoch} within 300 s")


def stop(child: subprocess.Popen[str], sig: int = signal.SIGKILL) -> tuple[str, str]:
    child.send_signal(sig)
    return child.communicate(timeout=120)


def run_stage(
    module: str, root: Path, uri: str, *overrides: str, env: dict[str, str] | None = None, **run: object
) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline.<module>` to its end, in the project `root` (also its working directory)."""
    return subprocess.run(
        [sys.executable, "-m", f"pipeline.{module}", *overrides], cwd=root,
        env={**env_for(root, uri), "PYTHONPATH": str(ROOT), **(env or {})},
        text=True, capture_output=True, timeout=600, **run,
    )  # fmt: skip


def read_only_for_child(folders: list[Path]) -> list[str]:
    """`folders` read-only for a child process: their permissions, and for root, the capability that
    ignores them dropped (setpriv). Returns the command prefix that starts such a child."""
    import shutil

    import pytest

    for folder in folders:
        folder.chmod(0o555)
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a folder read-only for a child")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def preprocessed_project(base: Path, n_train: int = 200) -> tuple[Path, list[str]]:
    """A project under `base` with preprocessed synthetic data: its root and the data overrides."""
    root, data = make_project(base, n_train=n_train)
    done = run_stage("preprocess", root, f"sqlite:///{base / 'mlflow.db'}", *data)
    assert done.returncode == 0, done.stderr[-2000:]
    return root, data


def one_error_line(stderr: str) -> str:
    """What a user mistake prints: exactly one non-empty line, `error: ...`."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-3000:]
    return lines[0]
