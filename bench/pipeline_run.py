"""The whole DVC pipeline as a user waits for it: `make run`'s repro, forced, with every seed of
sweep.seeds vs one seed, and with one seed vs the seed script per rate.

    python -m bench.pipeline_run [--rounds 1] [--cpus ''] [--epochs N] [--quick]

In two temp clones of this checkout's HEAD (the repo's own outputs are not touched; the second
with sweep.seeds cut to its first seed), the data stages run once (download from the MNIST mirror,
preprocess; not timed), then alternately:
  (s)  `python -m pipeline.tools.repro --force` (what `make run` runs): the trainings of every rate
       of sweep.rates with every seed of sweep.seeds side by side, then their evaluate stages side
       by side, then compare;
  (b)  the same with one seed: one training per rate;
  (b') `dvc repro -f --downstream train` with one seed: the stages one at a time, as plain
       `dvc repro` runs them;
  (a)  the seed notebook's script once per rate, one process after another (no tracking).
Prints the medians and the ratios (s)/(b) (target <= 3: the cost of the seeds), (b)/(a) (target
<= 0.5) and (b')/(a). Every contender has the whole machine (`--cpus ''`): the seed script's
TensorFlow uses every core, the project's trainings one each. Nothing is asserted. `--epochs` sets
train.epochs in the clones' params.yaml and the seed's epochs alike (default: params.yaml's);
`--quick`: one round of 1 epoch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from bench.harness.children import Result
from bench.harness.session import Session, benchmark
from bench.harness.tables import Column, each, median_of, ratio_table, within
from bench.harness.workspace import (
    SEED_SCRIPT,
    Workspace,
    clone_env,
    clone_head,
    create_store,
    mnist_mirror,
    settings_for,
    shown,
)

TARGET_RATIO = 0.5
TARGET_SEEDS_RATIO = 3.0
COLUMNS = [Column("median wall s", median_of("wall")), Column("rounds", each("wall"), fmt="")]


def set_params(clone: Path, epochs: int | None, seeds: list[int] | None = None) -> None:
    """train.epochs and sweep.seeds in the clone's params.yaml (what its DVC stages read)."""
    params = yaml.safe_load((clone / "params.yaml").read_text())
    if epochs:
        params["train"]["epochs"] = epochs
    if seeds:
        params["sweep"]["seeds"] = seeds
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@benchmark(__doc__, defaults={"rounds": 1}, quick={"epochs": 1})
def main(bench: Session) -> None:
    mirror = mnist_mirror(settings_for())
    if mirror is None:
        sys.exit("pipeline_run needs real MNIST (set DROPOUT_LAB_DATA_MIRROR): the DVC pipeline downloads it")
    rates, seeds = settings_for().sweep.rates, settings_for().sweep.seeds
    epochs = bench.args.epochs or settings_for().train.epochs
    clone, single = bench.root / "clone", bench.root / "single"
    env = clone_env(mirror)
    for where, chosen in ((clone, None), (single, seeds[:1])):
        head = clone_head(where)
        set_params(where, bench.args.epochs, chosen)
        bench.run(["dvc", "repro", "-q", "preprocess"], env, where)
        create_store(Workspace(where, where, where.name))
    seed_ws = bench.workspace
    print(f"clones of {head[:10]} with MNIST from {shown(mirror)}; rates {rates}, seeds {seeds} and "
          f"{seeds[:1]}, {epochs} epochs")  # fmt: skip
    print("(s), (b), (b'), (a) alternated")

    def seed_scripts(_: int) -> Result:
        seed = [sys.executable, SEED_SCRIPT, f"--data={seed_ws.raw_npz}", f"--epochs={epochs}"]
        runs = [bench.run([*seed, f"--seed={i}", f"--rate={rate}"]) for i, rate in enumerate(rates, start=1)]
        return {"wall": sum(r["wall"] for r in runs), "peak_mib": max(r["peak_mib"] for r in runs)}

    make_run = [sys.executable, "-m", "pipeline.tools.repro", "--force"]
    contenders = {
        "s": lambda _: bench.run(make_run, env, clone),
        "b": lambda _: bench.run(make_run, env, single),
        "b2": lambda _: bench.run(["dvc", "repro", "-f", "--downstream", "train"], env, single),
        "a": seed_scripts,
    }
    results = bench.alternate(contenders)
    labels = {
        "a": f"(a) seed script x{len(rates)}, one after another",
        "s": f"(s) make run's repro --force, {len(seeds)} seeds",
        "b": "(b) make run's repro --force, 1 seed (side by side)",
        "b2": "(b') dvc repro -f, 1 seed (one stage at a time)",
    }
    print("\n" + ratio_table(results, COLUMNS, [("s", "b"), ("b", "a"), ("b2", "a")], labels))
    cost = median_of("wall")(results["s"]) / median_of("wall")(results["b"])
    ratio = median_of("wall")(results["b"]) / median_of("wall")(results["a"])
    print("\n" + within(f"make run with {len(seeds)} seeds / with 1 seed", cost, TARGET_SEEDS_RATIO))
    print(within(f"make run's repro --force, 1 seed / {len(rates)} seed scripts", ratio, TARGET_RATIO))


if __name__ == "__main__":
    main()
