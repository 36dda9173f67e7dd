"""Team scale: the same sweep on the Ray launcher vs joblib, and into the tracking server vs SQLite.

    python bench/team_scale.py [--epochs 3]

One sweep of 4 trainings (dropout rates 0 and 0.5 x seeds 1 and 2) three times, one run each:
  (a) joblib launcher (n_jobs 2)           -> embedded SQLite store  (the default)
  (b) Ray launcher on a local cluster      -> embedded SQLite store  (`ray start --head --num-cpus 2`)
  (c) joblib launcher (n_jobs 2)           -> `make server` (PostgreSQL + mlflow server, loopback)
Prints wall times and the ratios (b)/(a) (sweep throughput, Ray vs joblib on this machine) and
(c)/(a) (logging through the server vs SQLite), plus each sweep's MLflow seconds per training run.
The Ray cluster and the server are started before and stopped after the timed sweeps (not timed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workspace import REPO, Workspace, machine_line, prepare_store, prepare_workspace, table

# No model logging: it keeps the sweeps short (bench/README.md's figures were measured so); everything
# else a run logs (params, epochs, evaluation, artifacts, the report) is timed.
GRID = ["model.dropout.rate=0,0.5", "train.seed=1,2", "tracking.log_model=false"]


def sweep(workspace: Workspace, uri: str, name: str, epochs: int, *launcher: str) -> float:
    """One `python -m pipeline.train -m` sweep; its wall time (fails loudly)."""
    argv = [sys.executable, "-m", "pipeline.train", "-m", *GRID, f"train.epochs={epochs}", *launcher]
    argv.append(f"hydra.sweep.dir={workspace.root / 'multirun' / name}")
    env = {**os.environ, **workspace.env(), "MLFLOW_TRACKING_URI": uri}
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"sweep {name} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return wall


def run_seconds(uri: str) -> float:
    """Median duration of the training runs in the store (training, evaluation, logging)."""
    import statistics

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string="tags.`dropout_lab.role` = 'train'")
    return statistics.median((r.info.end_time - r.info.start_time) / 1000 for r in runs)


def main() -> None:
    from team_fixtures import ray_cluster, tracking_server  # tests/helpers/, which workspace puts on sys.path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(f"team_scale: {machine_line()}")
    with tempfile.TemporaryDirectory(prefix="dropout-lab-team-") as tmp:
        workspace = prepare_workspace(Path(tmp))
        print(f"data: {workspace.source}; 4 runs, {args.epochs} epochs each")
        ray_uri = f"sqlite:///{Path(tmp) / 'ray.db'}"
        prepare_store(ray_uri, Path(tmp) / "ray-artifacts")
        walls, per_run = {}, {}
        walls["a"] = sweep(workspace, workspace.tracking_uri, "joblib", args.epochs)
        per_run["a"] = run_seconds(workspace.tracking_uri)
        print(f"  (a) joblib -> SQLite: {walls['a']:.1f} s", flush=True)
        with ray_cluster(num_cpus=2) as address:
            ray = ["hydra/launcher=ray", f"hydra.launcher.ray.init.address={address}"]
            walls["b"] = sweep(workspace, ray_uri, "ray", args.epochs, *ray)
        per_run["b"] = run_seconds(ray_uri)
        print(f"  (b) Ray    -> SQLite: {walls['b']:.1f} s", flush=True)
        with tracking_server() as running:
            walls["c"] = sweep(workspace, running.url, "server", args.epochs)
            per_run["c"] = run_seconds(running.url)
        print(f"  (c) joblib -> server: {walls['c']:.1f} s", flush=True)
    rows = [
        ["(a) joblib n_jobs=2 -> SQLite", f"{walls['a']:.1f}", f"{per_run['a']:.1f}"],
        ["(b) Ray, 1 CPU a job -> SQLite", f"{walls['b']:.1f}", f"{per_run['b']:.1f}"],
        ["(c) joblib n_jobs=2 -> tracking server", f"{walls['c']:.1f}", f"{per_run['c']:.1f}"],
        [
            "ratio (b)/(a): Ray vs joblib",
            f"{walls['b'] / walls['a']:.3f}",
            f"{per_run['b'] / per_run['a']:.3f}",
        ],
        [
            "ratio (c)/(a): server vs SQLite",
            f"{walls['c'] / walls['a']:.3f}",
            f"{per_run['c'] / per_run['a']:.3f}",
        ],
    ]
    print("\n" + table(rows, ["sweep of 4 trainings", "wall s", "median s a run"]))
    print(f"load average {os.getloadavg()[0]:.2f} at end; python bench/team_scale.py --epochs {args.epochs}")


if __name__ == "__main__":
    main()
