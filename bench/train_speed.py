"""Per-epoch speed: the seed notebook's Keras loop vs the project's own training, on the same data.

    python -m bench.train_speed [--quick] [--epochs 5] [--rounds 3 | --seeds 1 2 3] [--cpus 0]

In one run, alternating a, b for each seed (round r: seed r, unless --seeds names them), every run
in a fresh process pinned to `--cpus`:
  (a) the seed notebook's loop as written there (bench/seed_loop.py),
  (b) the project's `pipeline.training.loop.build_and_fit` on the default config composed from conf/,
and prints seconds per epoch (median, epoch 1 included, and more views), the ratio b/a (target
<= 0.33), test accuracies (target: within 0.3 points over >= 3 seeds) and PASS/FAIL. Whole
processes are compared by bench.whole_run, memory by bench.memory. Nothing is asserted.
`--quick`: one seed, 2 epochs.
"""

from __future__ import annotations

import sys
from typing import Any

from bench.harness.children import Result
from bench.harness.fit import timed_fit
from bench.harness.session import Session, benchmark
from bench.harness.tables import Column, median, median_of, ratio_table, verdict
from bench.harness.workspace import SEED_SCRIPT

TARGET_RATIO = 0.33
TARGET_ACCURACY_POINTS = 0.3
SPEED_LEGEND = """Seconds per epoch (training + validation pass), medians over all runs of each contender:
  median s/epoch: over every epoch of every run, epoch 1 (tracing) included; the target's figure
  epoch 1 / epochs 2+: the first epoch alone / the steady state
  all-in s/epoch: wall time of fit (for (b): of build_and_fit) / epochs, set-up and tracing included
  process s: the child's whole wall time, spawn to exit (imports, data, training, one test pass)"""


def child(seed: int, epochs: int, overrides: list[str]) -> dict[str, Any]:
    """(b): `build_and_fit` on the default config; every epoch's time as the project measures it."""
    from pipeline.training.steps import CompiledSteps

    fit = timed_fit([*overrides, f"train.seed={seed}", f"train.epochs={epochs}"])
    data = fit.data
    steps = CompiledSteps(fit.result.model, data.x_train, data.y_train, 32)
    accuracy = steps.validate(data.x_test, data.y_test).values()["accuracy"]
    return {
        "epoch_seconds": fit.epoch_seconds,
        "fit_seconds": fit.fit_seconds,
        "test_accuracy": float(accuracy),
    }


def run_all(bench: Session, seeds: list[int], epochs: int) -> dict[str, list[Result]]:
    """a, b per seed, alternating, each in a fresh process; prints progress as it goes."""
    ws = bench.workspace
    seed_loop = [sys.executable, SEED_SCRIPT, f"--data={ws.raw_npz}", f"--epochs={epochs}"]
    contenders = {
        "a": lambda seed: bench.run([*seed_loop, f"--seed={seed}"]),
        "b": lambda seed: bench.child({"seed": seed, "epochs": epochs, "overrides": ws.overrides}),
    }
    return bench.alternate(contenders, describe=brief, label="seed", rounds=seeds)


def brief(result: dict[str, Any]) -> str:
    epochs = " ".join(f"{s:.2f}" for s in result["epoch_seconds"])
    return f"epochs [{epochs}] s, test acc {result['test_accuracy']:.4f}, peak {result['peak_mib']:.0f} MiB"


VIEWS = ("median", "first", "steady", "all_in")


def speed_views(runs: list[Result]) -> dict[str, float]:
    """Seconds per epoch, several ways; `median` (all epochs, epoch 1 included) is the target's."""
    all_epochs = [s for r in runs for s in r["epoch_seconds"]]
    return {
        "median": median(all_epochs),
        "first": median([r["epoch_seconds"][0] for r in runs]),
        "steady": median([s for r in runs for s in r["epoch_seconds"][1:]] or all_epochs),
        "all_in": median([r["fit_seconds"] / len(r["epoch_seconds"]) for r in runs]),
    }


def mean_accuracy(runs: list[Result]) -> float:
    return sum(r["test_accuracy"] for r in runs) / len(runs)


def points(b: float, a: float) -> str:
    """The accuracy column's ratio row: the difference, in percentage points."""
    return f"{100 * (b - a):+.2f} pts"


HEADERS = ("median s/epoch", "epoch 1", "epochs 2+", "all-in s/epoch")
COLUMNS = [
    *(Column(header, lambda rs, key=key: speed_views(rs)[key], fmt=".2f")
      for header, key in zip(HEADERS, VIEWS, strict=True)),
    Column("test acc per seed", lambda rs: " ".join(f"{r['test_accuracy']:.4f}" for r in rs), fmt=""),
    Column("mean acc", mean_accuracy, fmt=".4f", versus=points),
    Column("process s", median_of("wall")),
]  # fmt: skip


def report(results: dict[str, list[Result]], n_seeds: int) -> str:
    """The speed and accuracy table, then PASS/FAIL against the targets (never asserted)."""
    a, b = speed_views(results["a"]), speed_views(results["b"])
    gap = 100 * (mean_accuracy(results["b"]) - mean_accuracy(results["a"]))
    wall_a, wall_b = (median_of("wall")(results[k]) for k in ("a", "b"))
    labels = {"a": "(a) seed notebook loop", "b": "(b) project build_and_fit"}
    ratio = b["median"] / a["median"]
    close = abs(gap) <= TARGET_ACCURACY_POINTS and n_seeds >= 3
    return "\n".join(
        [
            SPEED_LEGEND,
            ratio_table(results, COLUMNS, [("b", "a")], labels),
            "",
            f"{verdict(ratio <= TARGET_RATIO)}  median s/epoch (b)/(a) = {ratio:.3f} "
            f"(target <= {TARGET_RATIO})",
            f"{verdict(close)}  mean test accuracy (b) - (a) = {gap:+.2f} points over {n_seeds} seed(s) "
            f"(target: within {TARGET_ACCURACY_POINTS}, >= 3 seeds)",
            f"info  whole process (b)/(a) = {wall_b / wall_a:.3f}: (b) is the least a process computing "
            "the project's numbers does (import, data, the same training, one test pass, quick exit; no "
            "Hydra app, no MLflow, no files): `python -m pipeline.train` cannot be faster",
        ]
    )


@benchmark(
    __doc__,
    child=child,
    cpus="0",
    defaults={"rounds": 3, "epochs": 5},
    quick={"epochs": 2},
    flags={"--seeds": {"type": int, "nargs": "+", "help": "seeds, one a round (default: 1..rounds)"}},
)
def main(bench: Session) -> None:
    args = bench.args
    seeds = args.seeds or list(range(1, args.rounds + 1))
    print(f"data: {bench.workspace.source}; {args.epochs} epochs per run; seeds {seeds}; runs alternate a, b")
    results = run_all(bench, seeds, args.epochs)
    print("\n" + report(results, len(seeds)))


if __name__ == "__main__":
    main()
