"""The whole DVC pipeline as a user waits for it: `dvc repro -f` (train, evaluate, compare) vs the seed.

    python bench/pipeline_run.py [--rounds 2] [--cpus 0]

In a temp clone of this checkout's HEAD (the repo's own outputs are not touched), the data stages
run once (download from the MNIST mirror, preprocess; not timed), then alternately:
  (b) `dvc repro -f --downstream train`: the 3 trainings of sweep.rates, their 3 evaluate stages and
      compare, each stage its own process, as `dvc repro` runs them;
  (a) the seed notebook's script three times, one process after another (3 trainings, no tracking).
Prints the medians, the ratio (b)/(a) (target <= 0.5), and what one evaluate stage costs as its own
process (most of which merging evaluation into the training process would save, per rate).
Pinned to `--cpus` (default core 0). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workspace import (
    REPO,
    SEED_SCRIPT,
    Workspace,
    create_store,
    machine_line,
    median,
    mnist_mirror,
    prepare_workspace,
    run_child,
    settings_for,
    table,
    taskset,
    verdict,
)

from pipeline.core.config import MIRROR_ENV

TARGET_RATIO = 0.5


def clone_head(dest: Path) -> str:
    """A clone of this checkout at its HEAD commit; warns when the work tree has uncommitted changes."""
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    if dirty:
        print("WARNING: uncommitted changes are not in the clone; it runs HEAD", head[:10])
    subprocess.run(["git", "clone", "-q", str(REPO), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", head], check=True)
    return head


def clone_env(mirror: Path) -> dict[str, str]:
    """The clone is its own project root; the venv's python and dvc come first on PATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DROPOUT_LAB_", "MLFLOW_"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env[MIRROR_ENV] = str(mirror)
    env.pop("PYTHONPATH", None)
    return env


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cpus", default="0", help="taskset CPU list for both ('' = no pinning)")
    args = parser.parse_args()
    print(f"pipeline_run: {machine_line()}; pinned to CPUs {args.cpus or 'all'}")
    mirror = mnist_mirror(settings_for())
    if mirror is None:
        sys.exit("pipeline_run needs real MNIST (set DROPOUT_LAB_DATA_MIRROR): the DVC pipeline downloads it")
    rates = settings_for().sweep.rates
    results: dict[str, list[float]] = {"a": [], "b": []}
    with tempfile.TemporaryDirectory(prefix="dropout-lab-pipeline-") as tmp:
        clone = Path(tmp) / "clone"
        head = clone_head(clone)
        env = clone_env(mirror)
        timed(["dvc", "repro", "-q", "preprocess"], clone, env)
        create_store(Workspace(clone, clone, "clone"))
        seed_ws = prepare_workspace(Path(tmp) / "seed")
        print(f"clone of {head[:10]} with MNIST from {mirror}; rates {rates}; (b), (a) alternated")
        for round_ in range(1, args.rounds + 1):
            results["b"].append(timed([*taskset(args.cpus), "dvc", "repro", "-f", "--downstream", "train"],
                                      clone, env))  # fmt: skip
            print(f"  round {round_} (b) dvc repro -f: {results['b'][-1]:.1f} s", flush=True)
            seeds = [
                run_child([*taskset(args.cpus), sys.executable, str(SEED_SCRIPT), f"--data={seed_ws.raw_npz}",
                           f"--seed={seed}"], seed_ws.env(), seed_ws.root)["wall"]
                for seed in (1, 2, 3)
            ]  # fmt: skip
            results["a"].append(sum(seeds))
            print(f"  round {round_} (a) 3 seed scripts: {results['a'][-1]:.1f} s", flush=True)
        rate = rates[-1]
        evaluate = ["python", "-m", "pipeline.evaluate", "--config-dir", ".", "--config-name", "params",
                    f"model.dropout.rate={rate}"]  # fmt: skip
        one_evaluate = timed([*taskset(args.cpus), *evaluate], clone, env)
    a, b = median(results["a"]), median(results["b"])
    rows = [
        ["(a) seed script x3, one after another", f"{a:.1f}", " ".join(f"{t:.1f}" for t in results["a"])],
        [
            "(b) dvc repro -f (train, evaluate, compare)",
            f"{b:.1f}",
            " ".join(f"{t:.1f}" for t in results["b"]),
        ],
        ["ratio (b)/(a)", f"{b / a:.3f}", ""],
    ]
    print("\n" + table(rows, ["contender", "median wall s", "rounds"]))
    print(f"\none evaluate stage (rate {rate}) as its own process: {one_evaluate:.1f} s. Inside the training")
    print("process the same evaluation is the 'evaluation' line of bench/timeline.py; merging the stages")
    print(
        f"would save the rest of the {one_evaluate:.1f} s (start-up, model and data loading, exit) per rate."
    )
    print(
        f"\n{verdict(b / a <= TARGET_RATIO)}  dvc repro -f / 3 seed scripts = {b / a:.3f} "
        f"(target <= {TARGET_RATIO})"
    )
    print(f"end: {machine_line()}")


if __name__ == "__main__":
    main()
