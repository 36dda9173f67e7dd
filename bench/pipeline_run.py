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

from bench.harness import (
    SEED_SCRIPT,
    Column,
    Parser,
    Result,
    Workspace,
    alternate,
    begin,
    clone_env,
    clone_head,
    create_store,
    each,
    end,
    median_of,
    mnist_mirror,
    prepare_workspace,
    ratio_table,
    run_child,
    settings_for,
    temp_root,
    verdict,
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


def main() -> None:
    parser = Parser(__doc__, cpus="", defaults={"rounds": 1}, quick={"epochs": 1})
    args = parser.parse_args()
    begin("pipeline_run", args.cpus)
    mirror = mnist_mirror(settings_for())
    if mirror is None:
        sys.exit("pipeline_run needs real MNIST (set DROPOUT_LAB_DATA_MIRROR): the DVC pipeline downloads it")
    rates, seeds = settings_for().sweep.rates, settings_for().sweep.seeds
    epochs = args.epochs or settings_for().train.epochs
    with temp_root("pipeline") as tmp:
        clone, single = Path(tmp) / "clone", Path(tmp) / "single"
        env = clone_env(mirror)
        for where, chosen in ((clone, None), (single, seeds[:1])):
            head = clone_head(where)
            set_params(where, args.epochs, chosen)
            run_child(["dvc", "repro", "-q", "preprocess"], env, where)
            create_store(Workspace(where, where, where.name))
        seed_ws = prepare_workspace(Path(tmp) / "seed")
        print(f"clones of {head[:10]} with MNIST from {mirror}; rates {rates}, seeds {seeds} and "
              f"{seeds[:1]}, {epochs} epochs")  # fmt: skip
        print("(s), (b), (b'), (a) alternated")

        def seed_scripts(_: int) -> Result:
            seed = [sys.executable, SEED_SCRIPT, f"--data={seed_ws.raw_npz}", f"--epochs={epochs}"]
            ws = seed_ws
            runs = [run_child([*seed, f"--seed={i}", f"--rate={rate}"], ws.env(), ws.root, args.cpus)
                    for i, rate in enumerate(rates, start=1)]  # fmt: skip
            return {"wall": sum(r["wall"] for r in runs), "peak_mib": max(r["peak_mib"] for r in runs)}

        make_run = [sys.executable, "-m", "pipeline.tools.repro", "--force"]
        plain = ["dvc", "repro", "-f", "--downstream", "train"]
        contenders = {
            "s": lambda _: run_child(make_run, env, clone, args.cpus),
            "b": lambda _: run_child(make_run, env, single, args.cpus),
            "b2": lambda _: run_child(plain, env, single, args.cpus),
            "a": seed_scripts,
        }
        results = alternate(contenders, range(1, args.rounds + 1))
    labels = {
        "a": f"(a) seed script x{len(rates)}, one after another",
        "s": f"(s) make run's repro --force, {len(seeds)} seeds",
        "b": "(b) make run's repro --force, 1 seed (side by side)",
        "b2": "(b') dvc repro -f, 1 seed (one stage at a time)",
    }
    print("\n" + ratio_table(results, COLUMNS, [("s", "b"), ("b", "a"), ("b2", "a")], labels))
    cost = median_of("wall")(results["s"]) / median_of("wall")(results["b"])
    ratio = median_of("wall")(results["b"]) / median_of("wall")(results["a"])
    print(f"\n{verdict(cost <= TARGET_SEEDS_RATIO)}  make run with {len(seeds)} seeds / with 1 seed = "
          f"{cost:.3f} (target <= {TARGET_SEEDS_RATIO})")  # fmt: skip
    print(f"{verdict(ratio <= TARGET_RATIO)}  make run's repro --force, 1 seed / {len(rates)} seed scripts = "
          f"{ratio:.3f} (target <= {TARGET_RATIO})")  # fmt: skip
    end()


if __name__ == "__main__":
    main()
