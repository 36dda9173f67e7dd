"""The whole DVC pipeline as a user waits for it: `dvc repro -f` (train, evaluate, compare) vs the seed.

    python -m bench.pipeline_run [--rounds 2] [--cpus 0] [--epochs N] [--quick]

In a temp clone of this checkout's HEAD (the repo's own outputs are not touched), the data stages
run once (download from the MNIST mirror, preprocess; not timed), then alternately:
  (b) `dvc repro -f --downstream train`: the 3 trainings of sweep.rates, their 3 evaluate stages and
      compare, each stage its own process, as `dvc repro` runs them;
  (a) the seed notebook's script three times, one process after another (3 trainings, no tracking).
Prints the medians, the ratio (b)/(a) (target <= 0.5), and what one evaluate stage costs as its own
process (most of which merging evaluation into the training process would save, per rate).
Pinned to `--cpus` (default core 0). Nothing is asserted. `--epochs` sets train.epochs in the clone's
params.yaml and the seed's epochs alike (default: params.yaml's); `--quick`: one round of 1 epoch.
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
    parser = Parser(__doc__, cpus="0", defaults={"rounds": 2}, quick={"epochs": 1})
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
        print("(b), (a) alternated")

        def seed_scripts(_: int) -> Result:
            runs = [run_child([sys.executable, SEED_SCRIPT, f"--data={seed_ws.raw_npz}", f"--seed={seed}",
                               f"--epochs={epochs}"], seed_ws.env(), seed_ws.root, args.cpus)
                    for seed in (1, 2, 3)]  # fmt: skip
            return {"wall": sum(r["wall"] for r in runs), "peak_mib": max(r["peak_mib"] for r in runs)}

        contenders = {
            "b": lambda _: run_child(["dvc", "repro", "-f", "--downstream", "train"], env, clone, args.cpus),
            "a": seed_scripts,
        }
        results = alternate(contenders, range(1, args.rounds + 1))
        rate = rates[-1]
        evaluate = ["python", "-m", "pipeline.evaluate", "--config-dir", ".", "--config-name", "params",
                    f"model.dropout.rate={rate}"]  # fmt: skip
        one_evaluate = run_child(evaluate, env, clone, args.cpus)["wall"]
    labels = {
        "a": "(a) seed script x3, one after another",
        "b": "(b) dvc repro -f (train, evaluate, compare)",
    }
    print("\n" + ratio_table({"a": results["a"], "b": results["b"]}, COLUMNS, [("b", "a")], labels))
    ratio = median_of("wall")(results["b"]) / median_of("wall")(results["a"])
    print(f"\none evaluate stage (rate {rate}) as its own process: {one_evaluate:.1f} s. Inside the training")
    print("process the same evaluation is the 'evaluation' line of bench.timeline; merging the stages")
    print(
        f"would save the rest of the {one_evaluate:.1f} s (start-up, model and data loading, exit) per rate."
    )
    ok = verdict(ratio <= TARGET_RATIO)
    print(f"\n{ok}  dvc repro -f / 3 seed scripts = {ratio:.3f} (target <= {TARGET_RATIO})")
    end()


if __name__ == "__main__":
    main()
