"""Sweep speed: 4 trainings one after another in the seed's style vs the project's Hydra sweep.

    python bench/sweep_speed.py [--quick] [--epochs 5] [--rounds 2]

  (i)  sequential: the seed notebook's loop (bench/seed_loop.py) once per run, each a fresh
       `python` process, one after another: TensorFlow's default threads, no tracking;
  (ii) sweep: `python -m pipeline.train -m model.dropout.rate=0,0.5 train.seed=1,2`, the project's
       Hydra multirun with its default launcher (joblib, n_jobs 2, one TensorFlow thread per run),
       with everything a real sweep does: MLflow parent + child runs, evaluation, files, report.
Same 4 configs (rates 0 and 0.5 x seeds 1 and 2), same data, alternated (i), (ii) per round, in a
temp project root and MLflow store. Prints wall times, the ratio (ii)/(i) and PASS/FAIL (<= 0.6).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workspace import Workspace, machine_line, median, prepare_workspace, run_child, table, verdict

HERE = Path(__file__).resolve().parent
RATES = (0.0, 0.5)
SEEDS = (1, 2)
TARGET_RATIO = 0.6


def sequential(workspace: Workspace, epochs: int) -> tuple[float, list[float]]:
    """(i): the seed loop once per config, one process after another; total and per-run wall time."""
    walls = []
    for rate in RATES:
        for seed in SEEDS:
            start = time.perf_counter()
            argv = [
                sys.executable,
                str(HERE / "seed_loop.py"),
                f"--data={workspace.raw_npz}",
                f"--seed={seed}",
            ]
            run_child([*argv, f"--rate={rate}", f"--epochs={epochs}"], workspace.env(), workspace.root)
            walls.append(time.perf_counter() - start)
    return sum(walls), walls


def sweep(workspace: Workspace, epochs: int, round_: int) -> float:
    """(ii): the project's Hydra multirun with its default launcher; its wall time."""
    overrides = [
        *workspace.overrides,
        "-m",
        f"model.dropout.rate={','.join(f'{r:g}' for r in RATES)}",
        f"train.seed={','.join(str(s) for s in SEEDS)}",
        f"train.epochs={epochs}",
        f"hydra.sweep.dir={workspace.root / 'multirun' / str(round_)}",
    ]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.train", *overrides],
        cwd=workspace.root,
        env=workspace.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"sweep failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return wall


def sweep_runs(workspace: Workspace) -> list[dict[str, float | str]]:
    """What the sweeps left in MLflow: each training run's status, duration and median epoch time."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workspace.root / 'mlflow.db'}")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 epochs, one round")
    parser.add_argument("--epochs", type=int, help="epochs per run (default 5; 2 with --quick)")
    parser.add_argument("--rounds", type=int, help="rounds of (i), (ii) (default 2; 1 with --quick)")
    args = parser.parse_args()
    epochs = args.epochs or (2 if args.quick else 5)
    rounds = args.rounds or (1 if args.quick else 2)
    print(f"sweep_speed: {machine_line()}")
    results: dict[str, list[float]] = {"i": [], "ii": []}
    with tempfile.TemporaryDirectory(prefix="dropout-lab-sweep-") as tmp:
        workspace = prepare_workspace(Path(tmp))
        print(f"data: {workspace.source}; 4 runs (rates {RATES} x seeds {SEEDS}), {epochs} epochs each")
        for round_ in range(1, rounds + 1):
            total, walls = sequential(workspace, epochs)
            results["i"].append(total)
            each = ", ".join(f"{w:.1f}" for w in walls)
            print(f"  round {round_} (i) sequential: {total:.1f} s (runs: {each})")
            results["ii"].append(sweep(workspace, epochs, round_))
            print(f"  round {round_} (ii) sweep:      {results['ii'][-1]:.1f} s", flush=True)
        runs = sweep_runs(workspace)
    seq, par = median(results["i"]), median(results["ii"])
    finished = sum(r["status"] == "FINISHED" for r in runs)
    rows = [
        [
            "(i) 4 seed-style runs, one after another",
            f"{seq:.1f}",
            " ".join(f"{t:.1f}" for t in results["i"]),
        ],
        ["(ii) project sweep, joblib n_jobs=2", f"{par:.1f}", " ".join(f"{t:.1f}" for t in results["ii"])],
        ["ratio (ii)/(i)", f"{par / seq:.3f}", ""],
    ]
    print("\n" + table(rows, ["contender", "median wall s", "per round"]))
    job_seconds = median([float(r["seconds"]) for r in runs])
    epoch_seconds = median([float(r["epoch"]) for r in runs])
    print(f"sweep's training runs in MLflow: {finished}/{len(runs)} FINISHED, {job_seconds:.1f} s a run")
    print(f"(training, evaluation, logging); {epoch_seconds:.2f} s an epoch with 2 jobs sharing 2 cores")
    ok = verdict(par / seq <= TARGET_RATIO)
    print(f"\n{ok}  sweep: wall (ii)/(i) = {par / seq:.3f} (target <= {TARGET_RATIO})")
    print(f"end: {machine_line()}")


if __name__ == "__main__":
    main()
