"""Sweeps for the team-scale tests (tests/tools/test_team_scale.py, tests/tools/test_team_server.py):
`python -m pipeline.train -m` against a tracking URI with its output in files, and what the store holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

ROOT = Path(__file__).resolve().parents[2]
TINY = ["model.hidden_units=[16]", "eval.mc_samples=3", "tracking.log_model=false"]
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "gap")


def start_sweep(
    root: Path, uri: str, name: str, *overrides: str, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start `python -m pipeline.train -m ...` against `uri`, output to files in `root`."""
    full_env = {**os.environ, "DROPOUT_LAB_ROOT": str(root), "MLFLOW_TRACKING_URI": uri, **(env or {})}
    full_env.pop("MLFLOW_RUN_ID", None)
    argv = [
        sys.executable,
        "-m",
        "pipeline.train",
        "-m",
        *overrides,
        f"hydra.sweep.dir={root}/multirun/{name}",
    ]
    out = (root / f"{name}.out").open("w")
    err = (root / f"{name}.err").open("w")
    return subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=out, stderr=err, text=True)


def finish(process: subprocess.Popen, root: Path, name: str) -> tuple[int, str]:
    code = process.wait(timeout=900)
    return code, (root / f"{name}.out").read_text() + (root / f"{name}.err").read_text()


def runs_in(uri: str, experiment: str = "dropout-lab") -> list:
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id], max_results=1000) if found else []


def epoch_points(client: MlflowClient, run_id: str) -> dict[str, list[int]]:
    return {key: sorted(m.step for m in client.get_metric_history(run_id, key)) for key in EPOCH_METRICS}


def every_epoch(epochs: int) -> dict[str, list[int]]:
    return {key: list(range(1, epochs + 1)) for key in EPOCH_METRICS}
