"""One training as a user waits for it: the whole `python -m pipeline.train` vs the seed notebook's script.

    python -m bench.whole_run [--rounds 3] [--cpus 0] [--epochs N] [--quick]

Alternates (a) `python bench/seed_loop.py` (the notebook: import, load, fit, evaluate) and
(b) `python -m pipeline.train` (default config, at its epochs unless `--epochs`; evaluation with
30 MC-dropout passes, MLflow run with params, per-epoch metrics, artifacts and the logged model),
each a fresh process, `--rounds` times each, on the same data in a temp project root and MLflow
store. Wall time is from spawn to exit; peak RSS is the OS's for each process (`wait4`, as
`/usr/bin/time -v` reports it).
Pinned to `--cpus` (default core 0: both contenders get the same core on a shared machine).
Prints the medians, the ratio (b)/(a) against the target (<= 0.55) and the peak memory of one
training (target <= 1.0 GiB). Nothing is asserted. `--quick`: one round of 1 epoch.
"""

from __future__ import annotations

import sys

from bench.harness.session import Session, benchmark
from bench.harness.tables import Column, each, largest, median_of, ratio_table, within
from bench.harness.workspace import SEED_SCRIPT, settings_for

TARGET_RATIO = 0.55
TARGET_PEAK_MIB = 1024
COLUMNS = [
    Column("median wall s", median_of("wall")),
    Column("runs", each("wall"), fmt=""),
    Column("peak RSS MiB", largest("peak_mib"), fmt=".0f"),
]
LABELS = {"a": "(a) seed notebook script", "b": "(b) python -m pipeline.train"}


@benchmark(__doc__, cpus="0", defaults={"rounds": 3}, quick={"epochs": 1})
def main(bench: Session) -> None:
    ws, epochs = bench.workspace, bench.args.epochs or settings_for().train.epochs
    print(f"data: {ws.source}; {epochs} epochs; (a), (b) alternated, {bench.args.rounds} runs each")
    seed = [sys.executable, SEED_SCRIPT, f"--data={ws.raw_npz}", "--seed=1", f"--epochs={epochs}"]
    train = [sys.executable, "-m", "pipeline.train", *ws.overrides, f"train.epochs={epochs}"]
    contenders = {
        "a": lambda _: bench.run(seed),
        "b": lambda r: bench.run([*train, f"hydra.run.dir={ws.root / 'outputs' / str(r)}"]),
    }
    results = bench.alternate(contenders, label="run")
    print("\n" + ratio_table(results, COLUMNS, [("b", "a")], LABELS))
    a, b = (median_of("wall")(results[k]) for k in "ab")
    print("\n" + within("whole process (b)/(a)", b / a, TARGET_RATIO))
    peak = largest("peak_mib")(results["b"])
    print(within("peak RSS of one training", peak, TARGET_PEAK_MIB, fmt=".0f", unit=" MiB"))


if __name__ == "__main__":
    main()
