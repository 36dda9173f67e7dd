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

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    SEED_SCRIPT,
    Column,
    Parser,
    Result,
    Workspace,
    alternate,
    begin,
    emit,
    end,
    median,
    median_of,
    prepare_workspace,
    ratio_table,
    run_child,
    settings_for,
    temp_root,
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
    from pipeline.core.paths import project_path
    from pipeline.data.processed import load_processed

    return load_processed(project_path("data", "processed", "mnist.npz"))


def child_project(seed: int, epochs: int, overrides: list[str]) -> dict[str, Any]:
    """(b): `build_and_fit` on the default config; every epoch's time as the project measures it."""
    import keras  # noqa: F401  (TensorFlow's import is not training time; the seed loop's isn't timed either)

    from pipeline.training.loop import build_and_fit
    from pipeline.training.steps import CompiledSteps

    settings, data = project_settings(seed, epochs, overrides), project_data()
    seconds: list[float] = []
    start = time.perf_counter()
    result = build_and_fit(settings, data, on_epoch=[lambda row, s: seconds.append(s)])
    fit_seconds = time.perf_counter() - start
    steps = CompiledSteps(result.model, data.x_train, data.y_train, 32)
    accuracy = steps.validate(data.x_test, data.y_test).values()["accuracy"]
    return {
        "epoch_seconds": seconds,
        "fit_seconds": fit_seconds,
        "test_accuracy": float(accuracy),
    }


# --- parent --------------------------------------------------------------------------------------------


def run_all(ws: Workspace, seeds: list[int], epochs: int, cpus: str) -> dict[str, list[Result]]:
    """a, b per seed, alternating, each in a fresh process; prints progress as it goes."""
    seed_loop = [sys.executable, SEED_SCRIPT, f"--data={ws.raw_npz}", f"--epochs={epochs}"]

    def project(seed: int) -> list[str]:
        spec = {"seed": seed, "epochs": epochs, "overrides": ws.overrides}
        return [sys.executable, "-m", "bench.train_speed", "--child", json.dumps(spec)]

    contenders = {
        "a": lambda seed: run_child([*seed_loop, f"--seed={seed}"], ws.env(), ws.root, cpus),
        "b": lambda seed: run_child(project(seed), ws.env(), ws.root, cpus),
    }
    return alternate(contenders, seeds, describe=brief, label="seed")


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


def main() -> None:
    parser = Parser(__doc__, cpus="0", defaults={"rounds": 3, "epochs": 5}, quick={"epochs": 2})
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds, one a round (default: 1..rounds)")
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        emit(child_project(spec["seed"], spec["epochs"], spec["overrides"]))
        from pipeline.process.exit import exit_without_teardown

        exit_without_teardown()  # as `pipeline.train` ends: no TensorFlow teardown in the process time
    seeds = args.seeds or list(range(1, args.rounds + 1))
    begin("train_speed", args.cpus)
    with temp_root("bench") as tmp:
        ws = prepare_workspace(Path(tmp))
        print(f"data: {ws.source}; {args.epochs} epochs per run; seeds {seeds}; runs alternate a, b")
        results = run_all(ws, seeds, args.epochs, args.cpus)
    print("\n" + report(results, len(seeds)))
    end()


if __name__ == "__main__":
    main()
