"""The whole DVC pipeline as a user waits for it: `make run`'s repro, forced, vs the seed script per rate.

    python -m bench.pipeline_run [--rounds 1] [--cpus ''] [--epochs N] [--quick]

In a temp clone of this checkout's HEAD (the repo's own outputs are not touched), the data stages
run once (download from the MNIST mirror, preprocess; not timed), then alternately:
  (b)  `python -m pipeline.tools.repro --force` (what `make run` runs): the trainings of sweep.rates
       side by side, then their evaluate stages side by side, then compare;
  (b') `dvc repro -f --downstream train`: the same stages one at a time, as plain `dvc repro` runs them;
  (a)  the seed notebook's script once per rate, one process after another (no tracking).
Prints the medians and the ratios (b)/(a) (target <= 0.5) and (b')/(a). Every contender has the
whole machine (`--cpus ''`): the seed script's TensorFlow uses every core, the project's trainings
one each. Nothing is asserted. `--epochs` sets train.epochs in the clone's params.yaml and the seed's
epochs alike (default: params.yaml's); `--quick`: one round of 1 epoch.
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
COLUMNS = [Column("median wall s", median_of("wall")), Column("rounds", each("wall"), fmt="")]


def set_epochs(clone: Path, epochs: int) -> None:
    """train.epochs in the clone's params.yaml (what its DVC stages read)."""
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["train"]["epochs"] = epochs
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def main() -> None:
    parser = Parser(__doc__, cpus="", defaults={"rounds": 1}, quick={"epochs": 1})
    args = parser.parse_args()
    begin("pipeline_run", args.cpus)
    mirror = mnist_mirror(settings_for())
    if mirror is None:
        sys.exit("pipeline_run needs real MNIST (set DROPOUT_LAB_DATA_MIRROR): the DVC pipeline downloads it")
    rates = settings_for().sweep.rates
    epochs = args.epochs or settings_for().train.epochs
    with temp_root("pipeline") as tmp:
        clone = Path(tmp) / "clone"
        head = clone_head(clone)
        if args.epochs:
            set_epochs(clone, args.epochs)
        env = clone_env(mirror)
        run_child(["dvc", "repro", "-q", "preprocess"], env, clone)
        create_store(Workspace(clone, clone, "clone"))
        seed_ws = prepare_workspace(Path(tmp) / "seed")
        print(f"clone of {head[:10]} with MNIST from {mirror}; rates {rates}, {epochs} epochs")
        print("(b), (b'), (a) alternated")

        def seed_scripts(_: int) -> Result:
            seed = [sys.executable, SEED_SCRIPT, f"--data={seed_ws.raw_npz}", f"--epochs={epochs}"]
            ws = seed_ws
            runs = [run_child([*seed, f"--seed={i}", f"--rate={rate}"], ws.env(), ws.root, args.cpus)
                    for i, rate in enumerate(rates, start=1)]  # fmt: skip
            return {"wall": sum(r["wall"] for r in runs), "peak_mib": max(r["peak_mib"] for r in runs)}

        make_run = [sys.executable, "-m", "pipeline.tools.repro", "--force"]
        contenders = {
            "b": lambda _: run_child(make_run, env, clone, args.cpus),
            "b2": lambda _: run_child(["dvc", "repro", "-f", "--downstream", "train"], env, clone, args.cpus),
            "a": seed_scripts,
        }
        results = alternate(contenders, range(1, args.rounds + 1))
    labels = {
        "a": f"(a) seed script x{len(rates)}, one after another",
        "b": "(b) make run's repro --force (side by side)",
        "b2": "(b') dvc repro -f (one stage at a time)",
    }
    print("\n" + ratio_table(results, COLUMNS, [("b", "a"), ("b2", "a")], labels))
    ratio = median_of("wall")(results["b"]) / median_of("wall")(results["a"])
    ok = verdict(ratio <= TARGET_RATIO)
    print(f"\n{ok}  make run's repro --force / {len(rates)} seed scripts = {ratio:.3f} "
          f"(target <= {TARGET_RATIO})")  # fmt: skip
    end()


if __name__ == "__main__":
    main()
