"""Per epoch against the arithmetic floor: the project's epoch vs the same matrix products in NumPy's BLAS.

    python -m bench.floor [--rounds 3] [--epochs 3] [--cpus 0] [--quick]

In one run, alternated per round, each a fresh process on the same core (`--cpus`):
  (a) floor: one epoch's matrix products of the default net (784-128-64-10) and no other work:
      for every training batch (train.batch_size rows) the forward products, the weight gradients
      and the input gradients of the layers above the first; for the validation split the forward
      products in the validation batches the project uses. NumPy's BLAS, one thread, in a process
      that imported `pipeline` first, so the BLAS kernels are the numeric pins' (AVX2), as the
      project's own products are. The median of 3 epochs.
  (a') the same products without the pins (the widest kernels this CPU has), for information.
  (b) the project's epoch: `pipeline.training.loop.build_and_fit` on the default config and the
      processed MNIST, the median of epochs 2..n (epoch 1 includes tracing).
  (b0), (bs) the same epoch without dropout (rate 0: no masks drawn) and with plain SGD instead of
      Adam (no moments to update): what the masks and Adam's update cost, which the floor omits.
Prints each figure, the ratio (b)/(a) (target <= 2.0), the share of the epoch that is not
arithmetic and the shares of the masks and of Adam's update. Nothing is asserted. `--quick`: one
round, 2 epochs.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

from bench.harness.fit import timed_fit
from bench.harness.session import Session, benchmark
from bench.harness.tables import Column, median, median_of, ratio_table, verdict
from bench.harness.workspace import settings_for, unpinned

TARGET_RATIO = 2.0
FLOOR_EPOCHS = 3


def products(sizes: list[int], n_train: int, n_val: int, batch: int, val_batch: int) -> float:
    """Seconds for one epoch's matrix products (the median of FLOOR_EPOCHS), NumPy, float32."""
    import numpy as np

    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((a, b), dtype=np.float32) for a, b in itertools.pairwise(sizes)]

    def batches(n: int, size: int) -> list[int]:
        return [size] * (n // size) + ([n % size] if n % size else [])

    inputs = {rows: rng.standard_normal((rows, sizes[0]), dtype=np.float32) for rows in (batch, val_batch)}
    inputs |= {rows: inputs[batch][:rows] for rows in batches(n_train, batch)[-1:]}
    inputs |= {rows: inputs[val_batch][:rows] for rows in batches(n_val, val_batch)[-1:]}

    def forward(rows: int) -> list[np.ndarray]:
        activations = [inputs[rows]]
        for w in weights:
            activations.append(activations[-1] @ w)
        return activations

    def epoch() -> float:
        start = time.perf_counter()
        for rows in batches(n_train, batch):
            activations = forward(rows)
            for i, w in enumerate(weights):
                _ = activations[i].T @ activations[i + 1]  # weight gradient (the output's gradient's shape)
                if i:
                    _ = activations[i + 1] @ w.T  # input gradient, for every layer above the first
        for rows in batches(n_val, val_batch):
            forward(rows)
        return time.perf_counter() - start

    return median(epoch() for _ in range(FLOOR_EPOCHS))


def child_floor(pinned: bool) -> dict[str, Any]:
    if pinned:
        import pipeline  # noqa: F401  (the numeric pins, set before NumPy loads)
    from pipeline.core.paths import project_path
    from pipeline.data.processed import load_processed
    from pipeline.training.steps import VALIDATION_BATCH

    settings = settings_for()
    data = load_processed(project_path("data", "processed", f"{settings.data.name}.npz"))
    sizes = [data.x_train.shape[1], *settings.model.hidden_units, int(data.y_train.max()) + 1]
    seconds = products(sizes, len(data.x_train), len(data.x_val), settings.train.batch_size, VALIDATION_BATCH)
    return {"epoch_s": seconds, "coretype": os.environ.get("OPENBLAS_CORETYPE", "the CPU's own")}


def child(what: str, epochs: int, overrides: list[str]) -> dict[str, Any]:
    """One contender's figure: the floor, pinned or not, or the project's epoch (epochs 2..n)."""
    if what != "project":
        return child_floor(what == "floor")
    fit = timed_fit([*overrides, f"train.epochs={epochs}"])
    return {"epoch_s": median(fit.epoch_seconds[1:]), "epochs": fit.epoch_seconds}


COLUMNS = [Column("s/epoch", median_of("epoch_s"), fmt=".3f")]
LABELS = {
    "a": "(a) floor: BLAS products, pinned (AVX2)",
    "a2": "(a') floor: BLAS products, unpinned",
    "b": "(b) project epoch",
    "b0": "(b0) project epoch, no dropout",
    "bs": "(bs) project epoch, SGD",
}


@benchmark(
    __doc__,
    child=child,
    cpus="0",
    defaults={"rounds": 3, "epochs": 3},
    quick={"epochs": 2},
    steady_state=True,
)
def main(bench: Session) -> None:
    args, ws = bench.args, bench.workspace
    print(f"data: {ws.source}; project: {args.epochs} epochs a round; {args.rounds} rounds, alternated")
    one_thread = {**ws.env(), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

    def contender(what: str, env: dict[str, str], *overrides: str) -> Any:
        spec = {"what": what, "epochs": args.epochs, "overrides": [*ws.overrides, *overrides]}
        return lambda _: bench.child(spec, env)

    results = bench.alternate(
        {
            "a": contender("floor", one_thread),
            "a2": contender("unpinned", unpinned(one_thread)),
            "b": contender("project", ws.env()),
            "b0": contender("project", ws.env(), "model.dropout.rate=0.0"),
            "bs": contender("project", ws.env(), "train.optimizer=sgd"),
        },
        describe=lambda r: f"{r['epoch_s']:.3f} s/epoch",
    )
    print("\n" + ratio_table(results, COLUMNS, [("b", "a"), ("b", "a2")], LABELS))
    floor, epoch, unmasked, sgd = (median_of("epoch_s")(results[k]) for k in ("a", "b", "b0", "bs"))
    print(f"\n{verdict(epoch / floor <= TARGET_RATIO)}  project epoch / floor = {epoch / floor:.2f} "
          f"(target <= {TARGET_RATIO}); {1 - floor / epoch:.0%} of the epoch is not arithmetic: the dropout "
          f"masks {1 - unmasked / epoch:.0%}, Adam's update beyond SGD's {1 - sgd / epoch:.0%}")  # fmt: skip


if __name__ == "__main__":
    main()
