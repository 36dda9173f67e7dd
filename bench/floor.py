"""Per epoch against the arithmetic floor: the project's epoch vs the arithmetic it needs, in NumPy.

    python -m bench.floor [--rounds 3] [--epochs 3] [--cpus 0] [--quick]

In one run, alternated per round, each a fresh process on the same core (`--cpus`):
  (a) products-only floor: one epoch's matrix products of the default net (784-128-64-10) and no
      other work: for every training batch (train.batch_size rows) the forward products, the weight
      gradients and the input gradients of the layers above the first; for the validation split
      the forward products in the validation batches the project uses. NumPy's BLAS, one thread,
      in a process that imported `pipeline` first, so the BLAS kernels are the numeric pins' (AVX2),
      as the project's own products are. The median of 3 epochs.
  (a') the same products without the pins (the widest kernels this CPU has), for information.
  (r) recipe-arithmetic floor: the same products, and the rest of the arithmetic the recipe asks
      for at every step: the dropout masks (a uniform Philox number for every unit the config drops,
      compared with the rate and scaled, applied forward and to the gradient) and Adam's update of
      every weight and bias (both moments, the bias-corrected step, the square root). NumPy, one
      thread, pinned, the same batches and steps; the median of 3 epochs.
  (b) the project's epoch: `pipeline.training.loop.build_and_fit` on the default config and the
      processed MNIST, the median of epochs 2..n (epoch 1 includes tracing).
  (b0), (bs) the same epoch without dropout (rate 0: no masks drawn) and with plain SGD instead of
      Adam (no moments to update): what the masks and Adam's update cost in the project.
Prints each figure and both ratios: (b)/(a) (target <= 2.0) and (b)/(r), the share of the epoch
beyond the recipe's arithmetic. Nothing is asserted. `--quick`: one round, 2 epochs.
"""

from __future__ import annotations

import pipeline  # noqa: F401  (first: the numeric pins, before NumPy picks its kernels)

# isort: split
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.harness.fit import timed_fit
from bench.harness.session import Session, benchmark
from bench.harness.tables import Column, median, median_of, ratio_table, within
from bench.harness.workspace import settings_for, unpinned
from pipeline.core.config import Settings

TARGET_RATIO = 2.0
FLOOR_EPOCHS = 3
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7  # Keras' Adam defaults, which the recipe keeps


@dataclass(frozen=True)
class EpochShape:
    """One epoch of the recipe in numbers: everything the floors compute follows from these."""

    sizes: tuple[int, ...]  # layer widths: inputs, hidden units, classes
    train_rows: tuple[int, ...]  # rows of each optimizer step (the last batch may be short)
    val_rows: tuple[int, ...]  # rows of each validation batch
    drop: tuple[float, ...]  # the dropout rate on each Dense layer's inputs (0: no mask)
    learning_rate: float


def batches(n: int, size: int) -> tuple[int, ...]:
    return (size,) * (n // size) + ((n % size,) if n % size else ())


def epoch_shape(settings: Settings, n_train: int, n_val: int, n_features: int, n_classes: int) -> EpochShape:
    """The epoch the project trains for `settings` on data of these sizes."""
    from pipeline.training.steps import VALIDATION_BATCH

    model = settings.model
    return EpochShape(
        sizes=(n_features, *model.hidden_units, n_classes),
        train_rows=batches(n_train, settings.train.batch_size),
        val_rows=batches(n_val, VALIDATION_BATCH),
        drop=(model.dropout.input_rate, *(model.dropout.rate for _ in model.hidden_units)),
        learning_rate=settings.train.learning_rate,
    )


def adam_update(
    variable: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    scratch: np.ndarray,
    step: int,
    lr: float,
) -> None:
    """Adam's step `step` on `variable`, in place, as the project's fused kernel (`ResourceApplyAdam`)
    computes it: m += (g - m)(1 - beta1); v += (g^2 - v)(1 - beta2); w -= lr_t m / (sqrt(v) + eps)."""
    lr_t = lr * math.sqrt(1 - BETA_2**step) / (1 - BETA_1**step)
    np.subtract(grad, m, out=scratch)
    scratch *= 1 - BETA_1
    m += scratch
    np.multiply(grad, grad, out=scratch)
    scratch -= v
    scratch *= 1 - BETA_2
    v += scratch
    np.sqrt(v, out=scratch)
    scratch += EPSILON
    np.divide(m, scratch, out=scratch)
    scratch *= lr_t
    variable -= scratch


def draw_mask(
    rng: np.random.Generator, rate: float, uniform: np.ndarray, keep: np.ndarray, mask: np.ndarray
) -> None:
    """One batch's dropout mask into `mask`, as Keras draws it (`stateless_dropout`): a uniform number
    for every unit, the unit kept where it is >= rate, kept units scaled by 1 / (1 - rate)."""
    rng.random(out=uniform, dtype=np.float32)
    np.greater_equal(uniform, np.float32(rate), out=keep)
    np.multiply(keep, np.float32(1 / (1 - rate)), out=mask)


def views(flat: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """`flat` cut into consecutive arrays of these shapes (views: writing one writes `flat`)."""
    ends = list(itertools.accumulate(math.prod(s) for s in shapes))
    return [flat[end - math.prod(s) : end].reshape(s) for s, end in zip(shapes, ends, strict=True)]


def mask_buffers(rows: int, units: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where `draw_mask` draws one batch's mask: the uniform numbers, the kept units, the mask."""
    return (
        np.empty((rows, units), np.float32),
        np.empty((rows, units), bool),
        np.empty((rows, units), np.float32),
    )


class Arithmetic:
    """One epoch's arithmetic on random float32 arrays of the recipe's shapes, every buffer made once:
    the products alone, or with `recipe` also the dropout masks and Adam's update at every step."""

    def __init__(self, shape: EpochShape, recipe: bool, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.shape, self.recipe, self.steps = shape, recipe, 0
        self.masks_rng = np.random.Generator(np.random.Philox(seed))  # Keras' dropout draws Philox numbers
        # Every weight and bias is a view into one flat array, and so is its gradient, so that Adam
        # updates all of them in one pass of each operation (the fewest NumPy calls a step).
        pairs = list(itertools.pairwise(shape.sizes))
        variable_shapes = [*pairs, *((units,) for _, units in pairs)]
        size = sum(math.prod(s) for s in variable_shapes)
        self.variables, self.grads = np.zeros(size, np.float32), rng.standard_normal(size, dtype=np.float32)
        self.m, self.v, self.scratch = (np.zeros(size, np.float32) for _ in range(3))
        variables, grads = views(self.variables, variable_shapes), views(self.grads, variable_shapes)
        self.weights, self.weight_grads = variables[: len(pairs)], grads[: len(pairs)]
        for w in self.weights:
            w[...] = rng.standard_normal(w.shape, dtype=np.float32) / np.float32(math.sqrt(w.shape[0]))
        # The biases' gradients (sums over the batch) are not the floor's arithmetic: their views keep
        # the random stand-ins above, and Adam's update costs the same whatever the values.
        full = {shape.train_rows[0], shape.val_rows[0]}
        self.inputs = {rows: rng.standard_normal((rows, shape.sizes[0]), dtype=np.float32) for rows in full}
        for rows, whole in (
            (shape.train_rows[-1], shape.train_rows[0]),
            (shape.val_rows[-1], shape.val_rows[0]),
        ):
            self.inputs.setdefault(rows, self.inputs[whole][:rows])
        masked = [layer for layer, rate in enumerate(shape.drop) if rate]
        self.buffers = {
            (rows, layer): mask_buffers(rows, shape.sizes[layer])
            for rows in set(shape.train_rows)
            for layer in masked
        }

    def mask(self, rows: int, layer: int) -> np.ndarray:
        uniform, keep, mask = self.buffers[rows, layer]
        draw_mask(self.masks_rng, self.shape.drop[layer], uniform, keep, mask)
        return mask

    def train_step(self, rows: int) -> None:
        masks: dict[int, np.ndarray] = {}
        activations = [self.inputs[rows]]
        for layer, w in enumerate(self.weights):
            x = activations[layer]
            if self.recipe and self.shape.drop[layer]:
                masks[layer] = self.mask(rows, layer)
                x = x * masks[layer] if layer == 0 else np.multiply(x, masks[layer], out=x)
                activations[layer] = x
            activations.append(x @ w)
        delta = activations[-1]  # the loss's gradient at the output: a stand-in of its shape
        for layer in reversed(range(len(self.weights))):
            np.matmul(activations[layer].T, delta, out=self.weight_grads[layer])
            if layer:
                delta = delta @ self.weights[layer].T
                if layer in masks:
                    delta *= masks[layer]
        if self.recipe:
            self.steps += 1
            lr = self.shape.learning_rate
            adam_update(self.variables, self.grads, self.m, self.v, self.scratch, self.steps, lr)

    def validate(self, rows: int) -> None:
        x = self.inputs[rows]
        for w in self.weights:
            x = x @ w

    def epoch(self) -> float:
        """Seconds for one epoch: every training step, then the validation batches."""
        start = time.perf_counter()
        for rows in self.shape.train_rows:
            self.train_step(rows)
        for rows in self.shape.val_rows:
            self.validate(rows)
        return time.perf_counter() - start


def child(what: str, epochs: int, overrides: list[str]) -> dict[str, Any]:
    """One contender's figure: a floor (`products`, `recipe`) or the project's epoch (epochs 2..n)."""
    if what == "project":
        fit = timed_fit([*overrides, f"train.epochs={epochs}"])
        return {"epoch_s": median(fit.epoch_seconds[1:]), "epochs": fit.epoch_seconds}
    from pipeline.core.paths import project_path
    from pipeline.data.build import load_for

    settings = settings_for(overrides)
    data = load_for(settings.data, project_path())
    shape = epoch_shape(
        settings, len(data.x_train), len(data.x_val), data.x_train.shape[1], int(data.y_train.max()) + 1
    )
    arithmetic = Arithmetic(shape, recipe=what == "recipe")
    return {"epoch_s": median(arithmetic.epoch() for _ in range(FLOOR_EPOCHS))}


COLUMNS = [Column("s/epoch", median_of("epoch_s"), fmt=".3f")]
LABELS = {
    "a": "(a) floor: BLAS products, pinned (AVX2)",
    "a2": "(a') floor: BLAS products, unpinned",
    "r": "(r) floor: products + dropout masks + Adam",
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
            "a": contender("products", one_thread),
            "a2": contender("products", unpinned(one_thread)),
            "r": contender("recipe", one_thread),
            "b": contender("project", ws.env()),
            "b0": contender("project", ws.env(), "model.dropout.rate=0.0"),
            "bs": contender("project", ws.env(), "train.optimizer=sgd"),
        },
        describe=lambda r: f"{r['epoch_s']:.3f} s/epoch",
    )
    print("\n" + ratio_table(results, COLUMNS, [("b", "a"), ("b", "a2"), ("b", "r")], LABELS))
    products, recipe, epoch, unmasked, sgd = (
        median_of("epoch_s")(results[k]) for k in ("a", "r", "b", "b0", "bs")
    )
    print("\n" + within("project epoch / products-only floor", epoch / products, TARGET_RATIO, fmt=".2f")
          + f"; {1 - products / epoch:.0%} of the epoch is not matrix products")  # fmt: skip
    print(f"info  project epoch / recipe-arithmetic floor = {epoch / recipe:.2f}: the recipe's arithmetic in "
          f"NumPy takes {recipe / epoch:.0%} of the project's epoch; in the project the dropout masks take "
          f"{1 - unmasked / epoch:.0%} of it, Adam's update beyond SGD's {1 - sgd / epoch:.0%}")  # fmt: skip


if __name__ == "__main__":
    main()
