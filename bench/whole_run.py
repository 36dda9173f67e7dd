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
from pathlib import Path

from bench.harness import (
    SEED_SCRIPT,
    Column,
    Parser,
    alternate,
    begin,
    each,
    end,
    largest,
    median_of,
    prepare_workspace,
    ratio_table,
    run_child,
    settings_for,
    temp_root,
    verdict,
)

TARGET_RATIO = 0.55
TARGET_PEAK_MIB = 1024
COLUMNS = [
    Column("median wall s", median_of("wall")),
    Column("runs", each("wall"), fmt=""),
    Column("peak RSS MiB", largest("peak_mib"), fmt=".0f"),
]


def main() -> None:
    parser = Parser(__doc__, cpus="0", defaults={"rounds": 3}, quick={"epochs": 1})
    args = parser.parse_args()
    args.epochs = args.epochs or settings_for().train.epochs
    begin("whole_run", args.cpus)
    with temp_root("whole") as tmp:
        ws = prepare_workspace(Path(tmp))
        print(f"data: {ws.source}; {args.epochs} epochs; (a), (b) alternated, {args.rounds} runs each")
        seed = [sys.executable, SEED_SCRIPT, f"--data={ws.raw_npz}", "--seed=1", f"--epochs={args.epochs}"]
        train = [sys.executable, "-m", "pipeline.train", *ws.overrides, f"train.epochs={args.epochs}"]
        contenders = {
            "a": lambda _: run_child(seed, ws.env(), ws.root, args.cpus),
            "b": lambda r: run_child([*train, f"hydra.run.dir={ws.root / 'outputs' / str(r)}"], ws.env(),
                                     ws.root, args.cpus),
        }  # fmt: skip
        results = alternate(contenders, range(1, args.rounds + 1), label="run")
    labels = {"a": "(a) seed notebook script", "b": "(b) python -m pipeline.train"}
    print("\n" + ratio_table(results, COLUMNS, [("b", "a")], labels))
    a, b = (median_of("wall")(results[k]) for k in "ab")
    peak_b = largest("peak_mib")(results["b"])
    print(
        f"\n{verdict(b / a <= TARGET_RATIO)}  whole process (b)/(a) = {b / a:.3f} (target <= {TARGET_RATIO})"
    )
    print(f"{verdict(peak_b <= TARGET_PEAK_MIB)}  peak RSS of one training = {peak_b:.0f} MiB "
          f"(target <= {TARGET_PEAK_MIB} MiB)")  # fmt: skip
    end()


if __name__ == "__main__":
    main()
