"""One training as a user waits for it: the whole `python -m pipeline.train` vs the seed notebook's script.

    python bench/whole_run.py [--runs 3] [--cpus 0] [--epochs 5]

Alternates (a) `python bench/seed_loop.py` (the notebook: import, load, fit 5 epochs, evaluate) and
(b) `python -m pipeline.train` (default config: 5 epochs, evaluation with 30 MC-dropout passes,
MLflow run with params, per-epoch metrics, artifacts and the logged model), each a fresh process,
`--runs` times each, on the same data in a temp project root and MLflow store. Wall time is from
spawn to exit; peak RSS is the OS's for each process (`wait4`, as `/usr/bin/time -v` reports it).
Pinned to `--cpus` (default core 0: both contenders get the same core on a shared machine).
Prints the medians, the ratio (b)/(a) against the target (<= 0.45) and the peak memory of one
training (target <= 1.0 GiB). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from workspace import (
    SEED_SCRIPT,
    Workspace,
    machine_line,
    median,
    prepare_workspace,
    run_child,
    table,
    taskset,
    verdict,
)

TARGET_RATIO = 0.45
TARGET_PEAK_MIB = 1024


def seed_argv(ws: Workspace, cpus: str, epochs: int, seed: int = 1) -> list[str]:
    return [*taskset(cpus), sys.executable, str(SEED_SCRIPT), f"--data={ws.raw_npz}", f"--seed={seed}",
            f"--epochs={epochs}"]  # fmt: skip


def train_argv(ws: Workspace, cpus: str, epochs: int, run: int) -> list[str]:
    overrides = [f"train.epochs={epochs}", f"hydra.run.dir={ws.root / 'outputs' / str(run)}"]
    return [*taskset(cpus), sys.executable, "-m", "pipeline.train", *ws.overrides, *overrides]


def alternate(ws: Workspace, runs: int, cpus: str, epochs: int) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    for run in range(runs):
        for key, argv in (("a", seed_argv(ws, cpus, epochs)), ("b", train_argv(ws, cpus, epochs, run))):
            results[key].append(run_child(argv, ws.env(), ws.root))
            done = results[key][-1]
            print(
                f"  run {run + 1} ({key}): {done['wall']:.1f} s, peak {done['peak_mib']:.0f} MiB", flush=True
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each contender (alternated)")
    parser.add_argument("--cpus", default="0", help="taskset CPU list for both ('' = no pinning)")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    print(f"whole_run: {machine_line()}; pinned to CPUs {args.cpus or 'all'}")
    with tempfile.TemporaryDirectory(prefix="dropout-lab-whole-") as tmp:
        ws = prepare_workspace(Path(tmp))
        print(f"data: {ws.source}; {args.epochs} epochs; (a), (b) alternated, {args.runs} runs each")
        results = alternate(ws, args.runs, args.cpus, args.epochs)
    a, b = (median([r["wall"] for r in results[k]]) for k in ("a", "b"))
    peak_a, peak_b = (max(r["peak_mib"] for r in results[k]) for k in ("a", "b"))
    rows = [
        ["(a) seed notebook script", f"{a:.1f}", " ".join(f"{r['wall']:.1f}" for r in results["a"]),
         f"{peak_a:.0f}"],
        ["(b) python -m pipeline.train", f"{b:.1f}", " ".join(f"{r['wall']:.1f}" for r in results["b"]),
         f"{peak_b:.0f}"],
        ["ratio (b)/(a)", f"{b / a:.3f}", "", f"{peak_b / peak_a:.2f}"],
    ]  # fmt: skip
    print("\n" + table(rows, ["contender", "median wall s", "runs", "peak RSS MiB"]))
    print(
        f"\n{verdict(b / a <= TARGET_RATIO)}  whole process (b)/(a) = {b / a:.3f} (target <= {TARGET_RATIO})"
    )
    print(f"{verdict(peak_b <= TARGET_PEAK_MIB)}  peak RSS of one training = {peak_b:.0f} MiB "
          f"(target <= {TARGET_PEAK_MIB} MiB)")  # fmt: skip
    print(f"end: {machine_line()}")


if __name__ == "__main__":
    main()
