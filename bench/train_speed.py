"""Training speed: the seed notebook's Keras loop vs the project's own training, on the same data.

    python bench/train_speed.py [--quick] [--epochs 5] [--seeds 1 2 3]

In one run, alternating a, b, t for each seed, every run in a fresh process:
  (a) the seed notebook's loop as written there (bench/seed_loop.py),
  (b) the project's `pipeline.train.build_and_fit` on the default config composed from conf/,
  (t) the project's `pipeline.train.train_and_track` (b + MLflow tracking into a temp SQLite store),
and prints seconds per epoch (median, epoch 1 included, and more views), the ratio b/a, test
accuracies, the cost of MLflow logging, peak memory and PASS/FAIL against the speed issue's targets.
Real MNIST from the mirror when one is found (see common.find_mirror), synthetic data otherwise.
Timings are noisy on a shared machine: the figures are medians of this one run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    REPO,
    Workspace,
    default_settings,
    emit,
    machine,
    mean,
    median,
    peak_rss_mb,
    prepare_workspace,
    quiet_tensorflow,
    run_child,
    table,
    verdict,
)

HERE = Path(__file__).resolve().parent
TARGET_RATIO = 0.45
TARGET_ACCURACY_POINTS = 0.3
TARGET_MLFLOW_PCT = 5.0
TARGET_PEAK_MB = 1.5 * 1024
SPEED_LEGEND = """Seconds per epoch (training + validation pass), medians over all runs of each contender:
  median s/epoch: over every epoch of every run, epoch 1 (tracing) included; the target's figure
  epoch 1 / epochs 2+: the first epoch alone / the steady state
  all-in s/epoch: wall time of fit (for (b): of build_and_fit) / epochs, set-up and tracing included"""
MLFLOW_LEGEND = """MLflow in train_and_track, per tracked run (same config as (b)):
  training = build_and_fit minus its per-epoch logging; MLflow = everything else but evaluation and
  local files: run start, per-epoch metrics, end-of-run artifacts and model, evaluation metrics.
  'MLflow imports' (mlflow and its SQL store) are paid once per process (a sweep worker pays them once
  for all its runs): shown, not counted in the %."""


# --- children ----------------------------------------------------------------------------------------


def project_settings(seed: int, epochs: int) -> Any:
    """The default config composed from conf/, with only the seed and the epochs set."""
    return default_settings([f"train.seed={seed}", f"train.epochs={epochs}"])


def project_data() -> Any:
    from pipeline.config import project_path
    from pipeline.preprocess import load_processed

    return load_processed(project_path("data", "processed", "mnist.npz"))


def child_project(seed: int, epochs: int) -> dict[str, Any]:
    """(b): `build_and_fit` on the default config; every epoch's time as the project measures it."""
    import keras  # noqa: F401  (TensorFlow's import is not training time; the seed loop's isn't timed either)

    from pipeline.fit import build_and_fit

    settings, data = project_settings(seed, epochs), project_data()
    seconds: list[float] = []
    start = time.perf_counter()
    result = build_and_fit(settings, data, on_epoch=[lambda row, s: seconds.append(s)])
    fit_seconds = time.perf_counter() - start
    _, accuracy = result.model.evaluate(data.x_test, data.y_test, verbose=0)
    return {
        "epoch_seconds": seconds,
        "fit_seconds": fit_seconds,
        "test_accuracy": float(accuracy),
        "peak_rss_mb": peak_rss_mb(),
    }


def timed(fn: Any, totals: dict[str, float], key: str) -> Any:
    """`fn`, adding the wall time of every call to `totals[key]`."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[key] = totals.get(key, 0.0) + time.perf_counter() - start

    return wrapper


def child_tracked(seed: int, epochs: int, workdir: Path) -> dict[str, Any]:
    """(t): `train_and_track`, with its parts timed: training, per-epoch logging, end-of-run logging."""
    import keras  # noqa: F401

    start = time.perf_counter()
    for module in ("mlflow", "mlflow.store.tracking.sqlalchemy_store"):  # what the run's start imports
        importlib.import_module(module)
    import_seconds = time.perf_counter() - start
    from pipeline import evaluate, tracking, train
    from pipeline.launch import Launch, Source
    from pipeline.layout import run_dir_files

    totals: dict[str, float] = {}
    train.build_and_fit = timed(train.build_and_fit, totals, "build_and_fit")
    tracking.log_epoch = timed(tracking.log_epoch, totals, "per_epoch")
    train.log_outputs = timed(train.log_outputs, totals, "end_of_run")
    train.write_outputs = timed(train.write_outputs, totals, "write_outputs")
    evaluate.evaluate_and_log = timed(evaluate.evaluate_and_log, totals, "evaluate_and_log")
    evaluate.log_evaluation = timed(evaluate.log_evaluation, totals, "log_evaluation")
    settings, data = project_settings(seed, epochs), project_data()
    files = run_dir_files(workdir / f"run-seed{seed}")
    start = time.perf_counter()
    train.train_and_track(settings, data, files, Launch(Source.HYDRA, sweep_id="bench"))
    total = time.perf_counter() - start
    return {
        **totals,
        "total": total,
        "import_mlflow": import_seconds,
        "peak_rss_mb": peak_rss_mb(),
    }


# --- parent --------------------------------------------------------------------------------------------


def run_all(workspace: Workspace, seeds: list[int], epochs: int, tracked: bool) -> dict[str, list[dict]]:
    """a, b(, t) per seed, alternating, each in a fresh process; prints progress as it goes."""
    results: dict[str, list[dict]] = {"a": [], "b": [], "t": []}
    workdir = workspace.raw.parent
    for seed in seeds:
        runs = {
            "a": [
                str(HERE / "seed_loop.py"),
                f"--data={workspace.raw}",
                f"--seed={seed}",
                f"--epochs={epochs}",
            ]
        }
        for kind in ("b", "t") if tracked else ("b",):
            spec = {"kind": kind, "seed": seed, "epochs": epochs, "workdir": str(workdir)}
            runs[kind] = [__file__, "--child", json.dumps(spec)]
        for key, argv in runs.items():
            results[key].append(run_child(argv, env=workspace.env(), cwd=workdir))
            print(f"  seed {seed} {key}: {brief(results[key][-1])}", flush=True)
    return results


def brief(result: dict[str, Any]) -> str:
    if "epoch_seconds" in result:
        epochs = " ".join(f"{s:.2f}" for s in result["epoch_seconds"])
        return f"epochs [{epochs}] s, test acc {result['test_accuracy']:.4f}"
    return f"train_and_track {result['total']:.2f} s (build_and_fit {result['build_and_fit']:.2f} s)"


def speed_views(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per epoch, several ways; `median` (all epochs, epoch 1 included) is the target's."""
    all_epochs = [s for r in runs for s in r["epoch_seconds"]]
    return {
        "median": median(all_epochs),
        "first": median([r["epoch_seconds"][0] for r in runs]),
        "steady": median([s for r in runs for s in r["epoch_seconds"][1:]] or all_epochs),
        "all_in": median([r["fit_seconds"] / len(r["epoch_seconds"]) for r in runs]),
    }


VIEWS = ("median", "first", "steady", "all_in")


def speed_row(label: str, runs: list[dict[str, Any]]) -> list[str]:
    views = speed_views(runs)
    accuracies = [r["test_accuracy"] for r in runs]
    return [
        label,
        *(f"{views[key]:.2f}" for key in VIEWS),
        " ".join(f"{x:.4f}" for x in accuracies),
        f"{mean(accuracies):.4f}",
        f"{max(r['peak_rss_mb'] for r in runs):.0f}",
    ]


def speed_report(results: dict[str, list[dict]]) -> tuple[str, dict[str, float]]:
    """The speed and accuracy table, and the figures the verdicts need."""
    a, b = speed_views(results["a"]), speed_views(results["b"])
    points = 100 * (
        mean([r["test_accuracy"] for r in results["b"]]) - mean([r["test_accuracy"] for r in results["a"]])
    )
    ratios = ["ratio (b)/(a)", *(f"{b[key] / a[key]:.3f}" for key in VIEWS), "", f"{points:+.2f} pts", ""]
    header = ["contender", "median s/epoch", "epoch 1", "epochs 2+", "all-in s/epoch", "test acc per seed"]
    rows = [
        speed_row("(a) seed notebook loop", results["a"]),
        speed_row("(b) project build_and_fit", results["b"]),
    ]
    figures = {
        "ratio": b["median"] / a["median"],
        "ratio_all_in": b["all_in"] / a["all_in"],
        "accuracy_points": points,
        "peak_b": max(r["peak_rss_mb"] for r in results["b"]),
    }
    return table([*rows, ratios], [*header, "mean acc", "peak MB"]), figures


def mlflow_parts(run: dict[str, Any]) -> dict[str, float]:
    """A tracked run's wall time, split: training, MLflow (per-epoch / one-time), the rest."""
    training = run["build_and_fit"] - run["per_epoch"]
    evaluation = run.get("evaluate_and_log", 0.0) - run.get("log_evaluation", 0.0)
    mlflow_total = run["total"] - training - evaluation - run["write_outputs"]
    return {
        "training": training,
        "per_epoch": run["per_epoch"],
        "one_time": mlflow_total - run["per_epoch"],
        "end_of_run": run["end_of_run"],
        "mlflow": mlflow_total,
        "pct": 100 * mlflow_total / training,
        "other": evaluation + run["write_outputs"],
        "import": run["import_mlflow"],
    }


def mlflow_report(tracked: list[dict[str, Any]]) -> tuple[str, dict[str, float]]:
    """MLflow's share of each tracked run, split into per-epoch and one-time (start/end) logging."""
    parts = [mlflow_parts(run) for run in tracked]
    rows = [
        [f"{p['training']:.2f}", f"{p['per_epoch']:.3f}", f"{p['one_time']:.3f}", f"{p['end_of_run']:.3f}",
         f"{p['mlflow']:.3f}", f"{p['pct']:.1f}%", f"{p['other']:.2f}", f"{p['import']:.2f}",
         f"{run['peak_rss_mb']:.0f}"]
        for p, run in zip(parts, tracked, strict=True)
    ]  # fmt: skip
    header = ["training s", "per-epoch log s", "one-time log s", "(end of run)", "MLflow s", "% of training",
              "eval + files s", "MLflow imports s", "peak MB"]  # fmt: skip
    figures = {
        "mlflow_pct": median([p["pct"] for p in parts]),
        "peak_t": max(r["peak_rss_mb"] for r in tracked),
    }
    return table(rows, header), figures


def verdicts(
    speed: dict[str, float], mlflow: dict[str, float] | None, n_seeds: int, epochs: int
) -> list[str]:
    """PASS/FAIL against the issue's targets (set for 5-epoch runs; n/a for shorter): never asserted."""
    full = epochs >= 5
    accuracy = verdict(abs(speed["accuracy_points"]) <= TARGET_ACCURACY_POINTS, applies=n_seeds >= 3)
    peak = speed["peak_b"] if mlflow is None else max(speed["peak_b"], mlflow["peak_t"])
    lines = [
        f"{verdict(speed['ratio'] <= TARGET_RATIO, full)}  speed: median s/epoch (b)/(a) = "
        f"{speed['ratio']:.3f} (target <= {TARGET_RATIO}); all-in ratio {speed['ratio_all_in']:.3f}",
        f"{accuracy}  accuracy: mean test accuracy (b) - (a) = {speed['accuracy_points']:+.2f} "
        f"points over {n_seeds} seed(s) (target: within {TARGET_ACCURACY_POINTS}, >= 3 seeds)",
        f"{verdict(peak <= TARGET_PEAK_MB)}  memory: peak RSS of one full training run = {peak:.0f} MB "
        f"(target <= {TARGET_PEAK_MB:.0f} MB)",
    ]
    if mlflow is not None:
        lines.append(
            f"{verdict(mlflow['mlflow_pct'] <= TARGET_MLFLOW_PCT, full)}  MLflow logging = "
            f"{mlflow['mlflow_pct']:.1f}% of training time (median of tracked runs; target <= "
            f"{TARGET_MLFLOW_PCT:.0f}%)"
        )
    return lines


def child_main(spec: dict[str, Any]) -> None:
    quiet_tensorflow()
    if spec["kind"] == "b":
        emit(child_project(spec["seed"], spec["epochs"]))
    else:
        emit(child_tracked(spec["seed"], spec["epochs"], Path(spec["workdir"])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 epochs, one seed")
    parser.add_argument("--epochs", type=int, help="epochs per run (default 5; 2 with --quick)")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default 1 2 3; 1 with --quick)")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the tracked runs (t)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(json.loads(args.child))
        return
    epochs = args.epochs or (2 if args.quick else 5)
    seeds = args.seeds or ([1] if args.quick else [1, 2, 3])
    print(f"train_speed: {machine()}; load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="dropout-lab-bench-") as tmp:
        workspace = prepare_workspace(Path(tmp))
        print(f"data: {workspace.source}; {epochs} epochs per run; seeds {seeds}; runs alternate a, b, t")
        results = run_all(workspace, seeds, epochs, tracked=not args.no_mlflow)
    speed_table, speed = speed_report(results)
    print(f"\n{SPEED_LEGEND}\n{speed_table}")
    mlflow = None
    if results["t"]:
        mlflow_table, mlflow = mlflow_report(results["t"])
        print(f"\n{MLFLOW_LEGEND}\n{mlflow_table}")
    print()
    print("\n".join(verdicts(speed, mlflow, len(seeds), epochs)))
    print(f"\nload average {os.getloadavg()[0]:.2f} at end; python {Path(__file__).relative_to(REPO)}")


if __name__ == "__main__":
    main()
