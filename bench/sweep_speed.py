"""Sweep speed: 6 trainings one after another in the seed's style vs the project's Hydra sweep.

    python -m bench.sweep_speed [--quick] [--epochs N] [--rounds 1] [--cpus '']

  (i)  sequential: the seed notebook's loop (bench/seed_loop.py) once per run, each a fresh
       `python` process, one after another: TensorFlow's default threads, no tracking;
  (ii) sweep: `python -m pipeline.train -m model.dropout.rate=0,0.2,0.5 train.seed=1,2`, the project's
       Hydra multirun with its default launcher (joblib, n_jobs 2, one TensorFlow thread per run),
       with everything a real sweep does: MLflow parent + child runs, evaluation, files, report.
Same 6 configs (rates 0, 0.2 and 0.5 x seeds 1 and 2), same data, alternated (i), (ii) per round,
in a temp project root and MLflow store, at the config's epochs unless `--epochs`. Prints wall
times, the ratio (ii)/(i) and PASS/FAIL (<= 0.35). `--quick`: one round of 2 epochs.
"""

from __future__ import annotations

import sys

from bench.harness.children import Result
from bench.harness.session import Session, benchmark
from bench.harness.tables import Column, each, median, median_of, ratio_table, within
from bench.harness.workspace import SEED_SCRIPT, Workspace, settings_for

RATES = (0.0, 0.2, 0.5)
SEEDS = (1, 2)
TARGET_RATIO = 0.35
COLUMNS = [Column("median wall s", median_of("wall")), Column("per round", each("wall"), fmt="")]


def sequential(bench: Session, epochs: int) -> Result:
    """(i): the seed loop once per config, one process after another; total and per-run wall time."""
    seed_loop = [sys.executable, SEED_SCRIPT, f"--data={bench.workspace.raw_npz}", f"--epochs={epochs}"]
    walls = [
        bench.run([*seed_loop, f"--seed={seed}", f"--rate={rate}"])["wall"]
        for rate in RATES
        for seed in SEEDS
    ]
    return {"wall": sum(walls), "runs": walls}


def sweep(bench: Session, epochs: int, round_: int) -> Result:
    """(ii): the project's Hydra multirun with its default launcher; its wall time."""
    workspace = bench.workspace
    overrides = [
        *workspace.overrides,
        "-m",
        f"model.dropout.rate={','.join(f'{r:g}' for r in RATES)}",
        f"train.seed={','.join(str(s) for s in SEEDS)}",
        f"train.epochs={epochs}",
        f"hydra.sweep.dir={workspace.root / 'multirun' / str(round_)}",
    ]
    return bench.run([sys.executable, "-m", "pipeline.train", *overrides])


def sweep_runs(workspace: Workspace) -> list[dict[str, float | str]]:
    """What the sweeps left in MLflow: each training run's status, duration and median epoch time."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=workspace.tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    role = "tags.`dropout_lab.role` = 'train'"
    runs = client.search_runs(experiments, filter_string=role, max_results=1000)
    return [
        {
            "status": r.info.status,
            "seconds": (r.info.end_time - r.info.start_time) / 1000,
            "epoch": median([m.value for m in client.get_metric_history(r.info.run_id, "epoch_seconds")]),
        }
        for r in runs
        if r.info.end_time
    ]


def describe(result: Result) -> str:
    runs = f" (runs: {', '.join(f'{w:.1f}' for w in result['runs'])})" if "runs" in result else ""
    return f"{result['wall']:.1f} s{runs}"


@benchmark(__doc__, defaults={"rounds": 1}, quick={"epochs": 2})
def main(bench: Session) -> None:
    epochs = bench.args.epochs or settings_for().train.epochs
    n = len(RATES) * len(SEEDS)
    print(f"data: {bench.workspace.source}; {n} runs (rates {RATES} x seeds {SEEDS}), {epochs} epochs")
    contenders = {
        "i": lambda _: sequential(bench, epochs),
        "ii": lambda round_: sweep(bench, epochs, round_),
    }
    results = bench.alternate(contenders, describe=describe)
    runs = sweep_runs(bench.workspace)
    labels = {"i": f"(i) {n} seed-style runs, one after another", "ii": "(ii) project sweep, joblib n_jobs=2"}
    print("\n" + ratio_table(results, COLUMNS, [("ii", "i")], labels))
    ratio = median_of("wall")(results["ii"]) / median_of("wall")(results["i"])
    finished = sum(r["status"] == "FINISHED" for r in runs)
    job_seconds = median([float(r["seconds"]) for r in runs])
    epoch_seconds = median([float(r["epoch"]) for r in runs])
    print(f"sweep's training runs in MLflow: {finished}/{len(runs)} FINISHED, {job_seconds:.1f} s a run")
    print(f"(training, evaluation, logging); {epoch_seconds:.2f} s an epoch with 2 jobs sharing 2 cores")
    print("\n" + within("sweep: wall (ii)/(i)", ratio, TARGET_RATIO))


if __name__ == "__main__":
    main()
