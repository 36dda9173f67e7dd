"""Team scale: the same sweep on the Ray launcher vs joblib, and into the tracking server vs SQLite.

    python -m bench.team_scale [--epochs 3] [--rounds 1] [--cpus ''] [--quick]

One sweep of 4 trainings (dropout rates 0 and 0.5 x seeds 1 and 2) three ways, alternated per round:
  (a) joblib launcher (n_jobs 2)           -> embedded SQLite store  (the default)
  (b) Ray launcher on a local cluster      -> embedded SQLite store  (`ray start --head --num-cpus 2`)
  (c) joblib launcher (n_jobs 2)           -> `make server` (PostgreSQL + mlflow server, loopback)
Prints wall times and the ratios (b)/(a) (sweep throughput, Ray vs joblib on this machine) and
(c)/(a) (logging through the server vs SQLite), plus each sweep's MLflow seconds per training run.
The Ray cluster and the server are started before the first timed sweep and stopped after the last
(not timed), so every contender runs beside the same idle services. `--quick`: one round of 1 epoch.
"""

from __future__ import annotations

import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

from bench.harness import (
    REPO,
    Column,
    Parser,
    Result,
    Workspace,
    alternate,
    begin,
    end,
    median_of,
    prepare_store,
    prepare_workspace,
    ratio_table,
    run_child,
    temp_root,
    tests_on_path,
)

# No model logging: it keeps the sweeps short (the README's figures were measured so); everything
# else a run logs (params, epochs, evaluation, artifacts, the report) is timed.
GRID = ["model.dropout.rate=0,0.5", "train.seed=1,2", "tracking.log_model=false"]
COLUMNS = [Column("wall s", median_of("wall")), Column("median s a run", median_of("per_run"))]


def sweep(workspace: Workspace, uri: str, name: str, epochs: int, cpus: str, *launcher: str) -> Result:
    """One `python -m pipeline.train -m` sweep logging to `uri`; its wall time and its runs' median
    duration in the store. Run from the checkout: Ray's workers import `pipeline` from there."""
    argv = [sys.executable, "-m", "pipeline.train", "-m", *GRID, f"train.epochs={epochs}", *launcher]
    argv.append(f"hydra.sweep.dir={workspace.root / 'multirun' / name}")
    result = run_child(argv, {**workspace.env(), "MLFLOW_TRACKING_URI": uri}, REPO, cpus)
    return {**result, "per_run": run_seconds(uri)}


def run_seconds(uri: str) -> float:
    """Median duration of the training runs in the store (training, evaluation, logging)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string="tags.`dropout_lab.role` = 'train'")
    return statistics.median((r.info.end_time - r.info.start_time) / 1000 for r in runs)


def main() -> None:
    parser = Parser(__doc__, defaults={"epochs": 3}, quick={"epochs": 1})
    args = parser.parse_args()
    tests_on_path()
    from team_fixtures import ray_cluster, tracking_server

    begin("team_scale", args.cpus)
    with temp_root("team") as tmp, ExitStack() as services:
        workspace = prepare_workspace(Path(tmp))
        print(f"data: {workspace.source}; 4 runs, {args.epochs} epochs each")
        ray_uri = f"sqlite:///{Path(tmp) / 'ray.db'}"
        prepare_store(ray_uri, Path(tmp) / "ray-artifacts")
        address = services.enter_context(ray_cluster(num_cpus=2))
        server = services.enter_context(tracking_server())
        ray = ["hydra/launcher=ray", f"hydra.launcher.ray.init.address={address}"]
        contenders = {
            "a": lambda r: sweep(workspace, workspace.tracking_uri, f"joblib-{r}", args.epochs, args.cpus),
            "b": lambda r: sweep(workspace, ray_uri, f"ray-{r}", args.epochs, args.cpus, *ray),
            "c": lambda r: sweep(workspace, server.url, f"server-{r}", args.epochs, args.cpus),
        }
        results = alternate(contenders, range(1, args.rounds + 1))
    labels = {
        "a": "(a) joblib n_jobs=2 -> SQLite",
        "b": "(b) Ray, 1 CPU a job -> SQLite",
        "c": "(c) joblib n_jobs=2 -> tracking server",
    }
    ratios = [("b", "a", "Ray vs joblib"), ("c", "a", "server vs SQLite")]
    print("\n" + ratio_table(results, COLUMNS, ratios, labels, first="sweep of 4 trainings"))
    end()


if __name__ == "__main__":
    main()
