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

from bench.harness.children import Result
from bench.harness.session import Session, benchmark
from bench.harness.tables import Column, median_of, ratio_table
from bench.harness.workspace import REPO, prepare_store

# No model logging: it keeps the sweeps short (the README's figures were measured so); everything
# else a run logs (params, epochs, evaluation, artifacts, the report) is timed.
GRID = ["model.dropout.rate=0,0.5", "train.seed=1,2", "tracking.log_model=false"]
COLUMNS = [Column("wall s", median_of("wall")), Column("median s a run", median_of("per_run"))]
LABELS = {
    "a": "(a) joblib n_jobs=2 -> SQLite",
    "b": "(b) Ray, 1 CPU a job -> SQLite",
    "c": "(c) joblib n_jobs=2 -> tracking server",
}


def sweep(bench: Session, uri: str, name: str, *launcher: str) -> Result:
    """One `python -m pipeline.train -m` sweep logging to `uri`; its wall time and its runs' median
    duration in the store. Run from the checkout: Ray's workers import `pipeline` from there."""
    ws = bench.workspace
    argv = [
        sys.executable,
        "-m",
        "pipeline.train",
        "-m",
        *GRID,
        f"train.epochs={bench.args.epochs}",
        *launcher,
    ]
    argv.append(f"hydra.sweep.dir={ws.root / 'multirun' / name}")
    result = bench.run(argv, {**ws.env(), "MLFLOW_TRACKING_URI": uri}, REPO)
    return {**result, "per_run": run_seconds(uri)}


def run_seconds(uri: str) -> float:
    """Median duration of the training runs in the store (training, evaluation, logging)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string="tags.`dropout_lab.role` = 'train'")
    return statistics.median((r.info.end_time - r.info.start_time) / 1000 for r in runs)


@benchmark(__doc__, defaults={"epochs": 3}, quick={"epochs": 1})
def main(bench: Session) -> None:
    from tests.helpers.team_fixtures import ray_cluster, tracking_server

    print(f"data: {bench.workspace.source}; 4 runs, {bench.args.epochs} epochs each")
    ray_uri = f"sqlite:///{bench.root / 'ray.db'}"
    prepare_store(ray_uri, bench.root / "ray-artifacts")
    with ExitStack() as services:
        address = services.enter_context(ray_cluster(num_cpus=2))
        server = services.enter_context(tracking_server())
        ray = ["hydra/launcher=ray", f"hydra.launcher.ray.init.address={address}"]
        contenders = {
            "a": lambda r: sweep(bench, bench.workspace.tracking_uri, f"joblib-{r}"),
            "b": lambda r: sweep(bench, ray_uri, f"ray-{r}", *ray),
            "c": lambda r: sweep(bench, server.url, f"server-{r}"),
        }
        results = bench.alternate(contenders)
    ratios = [("b", "a", "Ray vs joblib"), ("c", "a", "server vs SQLite")]
    print("\n" + ratio_table(results, COLUMNS, ratios, LABELS, first="sweep of 4 trainings"))


if __name__ == "__main__":
    main()
