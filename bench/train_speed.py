"""Per-epoch speed: the seed notebook's Keras loop vs the project's own training, on the same data.

    python bench/train_speed.py [--quick] [--epochs 5] [--seeds 1 2 3] [--cpus 0]

In one run, alternating a, b for each seed, every run in a fresh process pinned to `--cpus`:
  (a) the seed notebook's loop as written there (bench/seed_loop.py),
  (b) the project's `pipeline.training.loop.build_and_fit` on the default config composed from conf/,
and prints seconds per epoch (median, epoch 1 included, and more views), the ratio b/a (target
<= 0.33), test accuracies (target: within 0.3 points over >= 3 seeds) and PASS/FAIL. Whole
processes are compared by bench/whole_run.py, memory by bench/memory.py. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from workspace import (
    SEED_SCRIPT,
    Workspace,
    emit,
    machine_line,
    median,
    prepare_workspace,
    run_child,
    settings_for,
    table,
    taskset,
    verdict,
)

TARGET_RATIO = 0.33
TARGET_ACCURACY_POINTS = 0.3
SPEED_LEGEND = """Seconds per epoch (training + validation pass), medians over all runs of each contender:
  median s/epoch: over every epoch of every run, epoch 1 (tracing) included; the target's figure
  epoch 1 / epochs 2+: the first epoch alone / the steady state
  all-in s/epoch: wall time of fit (for (b): of build_and_fit) / epochs, set-up and tracing included
  process s: the child's whole wall time, spawn to exit (imports, data, training, one test pass)"""


# --- children ----------------------------------------------------------------------------------------


def project_settings(seed: int, epochs: int, overrides: list[str]) -> Any:
    """The default config composed from conf/, with only the seed and the epochs set."""
    return settings_for([*overrides, f"train.seed={seed}", f"train.epochs={epochs}"])


def project_data() -> Any:
    from pipeline.core.config import project_path
    from pipeline.data.preprocess import load_processed

    return load_processed(project_path("data", "processed", "mnist.npz"))


def child_project(seed: int, epochs: int, overrides: list[str]) -> dict[str, Any]:
    """(b): `build_and_fit` on the default config; every epoch's time as the project measures it."""
    import keras  # noqa: F401  (TensorFlow's import is not training time; the seed loop's isn't timed either)

    from pipeline.training.batches import in_order
    from pipeline.training.loop import build_and_fit

    settings, data = project_settings(seed, epochs, overrides), project_data()
    seconds: list[float] = []
    start = time.perf_counter()
    result = build_and_fit(settings, data, on_epoch=[lambda row, s: seconds.append(s)])
    fit_seconds = time.perf_counter() - start
    _, accuracy = result.model.evaluate(in_order(data.x_test, data.y_test, 32), verbose=0)
    return {
        "epoch_seconds": seconds,
        "fit_seconds": fit_seconds,
        "test_accuracy": float(accuracy),
    }


# --- parent --------------------------------------------------------------------------------------------


def run_all(ws: Workspace, seeds: list[int], epochs: int, cpus: str) -> dict[str, list[dict]]:
    """a, b per seed, alternating, each in a fresh process; prints progress as it goes."""
    results: dict[str, list[dict]] = {"a": [], "b": []}
    for seed in seeds:
        spec = {"seed": seed, "epochs": epochs, "overrides": ws.overrides}
        runs = {
            "a": [str(SEED_SCRIPT), f"--data={ws.raw_npz}", f"--seed={seed}", f"--epochs={epochs}"],
            "b": [__file__, "--child", json.dumps(spec)],
        }
        for key, argv in runs.items():
            results[key].append(run_child([*taskset(cpus), sys.executable, *argv], ws.env(), ws.root))
            print(f"  seed {seed} {key}: {brief(results[key][-1])}", flush=True)
    return results


def brief(result: dict[str, Any]) -> str:
    epochs = " ".join(f"{s:.2f}" for s in result["epoch_seconds"])
    return f"epochs [{epochs}] s, test acc {result['test_accuracy']:.4f}, peak {result['peak_mib']:.0f} MiB"


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


def mean_accuracy(runs: list[dict[str, Any]]) -> float:
    return sum(r["test_accuracy"] for r in runs) / len(runs)


def speed_row(label: str, runs: list[dict[str, Any]]) -> list[str]:
    views = speed_views(runs)
    return [
        label,
        *(f"{views[key]:.2f}" for key in VIEWS),
        " ".join(f"{r['test_accuracy']:.4f}" for r in runs),
        f"{mean_accuracy(runs):.4f}",
        f"{median([r['wall'] for r in runs]):.1f}",
    ]


def report(results: dict[str, list[dict]], n_seeds: int) -> str:
    """The speed and accuracy table, then PASS/FAIL against the targets (never asserted)."""
    a, b = speed_views(results["a"]), speed_views(results["b"])
    points = 100 * (mean_accuracy(results["b"]) - mean_accuracy(results["a"]))
    wall_a, wall_b = (median([r["wall"] for r in results[k]]) for k in ("a", "b"))
    ratios = [
        "ratio (b)/(a)",
        *(f"{b[key] / a[key]:.3f}" for key in VIEWS),
        "",
        f"{points:+.2f} pts",
        f"{wall_b / wall_a:.3f}",
    ]
    header = ["contender", "median s/epoch", "epoch 1", "epochs 2+", "all-in s/epoch", "test acc per seed",
              "mean acc", "process s"]  # fmt: skip
    rows = [
        speed_row("(a) seed notebook loop", results["a"]),
        speed_row("(b) project build_and_fit", results["b"]),
    ]
    ratio = b["median"] / a["median"]
    close = abs(points) <= TARGET_ACCURACY_POINTS and n_seeds >= 3
    return "\n".join(
        [
            SPEED_LEGEND,
            table([*rows, ratios], header),
            "",
            f"{verdict(ratio <= TARGET_RATIO)}  median s/epoch (b)/(a) = {ratio:.3f} "
            f"(target <= {TARGET_RATIO})",
            f"{verdict(close)}  mean test accuracy (b) - (a) = {points:+.2f} points over {n_seeds} seed(s) "
            f"(target: within {TARGET_ACCURACY_POINTS}, >= 3 seeds)",
            f"info  whole process (b)/(a) = {wall_b / wall_a:.3f}: (b) is the least a process computing "
            "the project's numbers does (import, data, the same training, one test pass, quick exit; no "
            "Hydra app, no MLflow, no files): `python -m pipeline.train` cannot be faster",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 epochs, one seed")
    parser.add_argument("--epochs", type=int, help="epochs per run (default 5; 2 with --quick)")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default 1 2 3; 1 with --quick)")
    parser.add_argument("--cpus", default="0", help="taskset CPU list for both ('' = no pinning)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        emit(child_project(spec["seed"], spec["epochs"], spec["overrides"]))
        from pipeline.core.quick_exit import exit_without_teardown

        exit_without_teardown()  # as `pipeline.train` ends: no TensorFlow teardown in the process time
    epochs = args.epochs or (2 if args.quick else 5)
    seeds = args.seeds or ([1] if args.quick else [1, 2, 3])
    print(f"train_speed: {machine_line()}; pinned to CPUs {args.cpus or 'all'}")
    with tempfile.TemporaryDirectory(prefix="dropout-lab-bench-") as tmp:
        ws = prepare_workspace(Path(tmp))
        print(f"data: {ws.source}; {epochs} epochs per run; seeds {seeds}; runs alternate a, b")
        results = run_all(ws, seeds, epochs, args.cpus)
    print("\n" + report(results, len(seeds)))
    print(f"end: {machine_line()}")


if __name__ == "__main__":
    main()
