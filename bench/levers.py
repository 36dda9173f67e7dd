"""Which speed levers pay off on this machine: each variant in a fresh process, variants alternated.

    python -m bench.levers [--rounds 2] [--epochs 5] [--only NAME ...] [--cpus ''] [--quick]

The model and math are the project's default (784-128-64-10 MLP, dropout 0.5, Adam, sparse
cross-entropy, batch 32, 48k/12k split); only how the steps run differs. Each variant changes one
thing from the defaults (steps_per_execution 128, one thread, op determinism, NumPy arrays).
Reported per variant: the first epoch (it includes tracing), the steady-state epoch (median of
epochs 2..n) and the best one, the all-in mean (fit wall time / epochs), test accuracy and peak
memory, medians over rounds; then each variant's ratio to the defaults. Exploration only: the
targets are judged by bench.train_speed. `--quick`: one round of 2 epochs, the first two variants.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.harness.session import Session, benchmark
from bench.harness.tables import Column, largest, median, median_of, ratio_table, steady

BASE: dict[str, Any] = {"spe": 128, "threads": 1, "determinism": True, "input": "arrays", "jit": False}
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults (spe=128, threads=1)": {},
    "spe=1 threads=default (seed-like)": {"spe": 1, "threads": 0},
    "spe=1": {"spe": 1},
    "spe=8": {"spe": 8},
    "spe=32": {"spe": 32},
    "spe=64": {"spe": 64},
    "threads=default (all cores)": {"threads": 0},
    "threads=2": {"threads": 2},
    "intra=1 inter=2": {"inter": 2},
    "no op determinism": {"determinism": False},
    "jit_compile (XLA; no determinism)": {"jit": True, "determinism": False},
    "tf.data from_tensor_slices+shuffle": {"input": "tfdata"},
    "zero-copy tensors (DLPack)": {"input": "zerocopy"},
    "validation batch 1024": {"val_batch": 1024},
    "grappler off": {"grappler": False},
}


def configure(variant: dict[str, Any]) -> None:
    """Threads, determinism and graph optimizer, before TensorFlow runs its first op."""
    import tensorflow as tf

    if variant["threads"]:
        tf.config.threading.set_intra_op_parallelism_threads(variant["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(variant.get("inter", variant["threads"]))
    if not variant.get("grappler", True):
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    if variant["determinism"]:
        tf.config.experimental.enable_op_determinism()


def build(variant: dict[str, Any]) -> Any:
    """The project's default MLP, compiled with the variant's execution settings."""
    import keras

    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((784,)),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(64, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=variant["spe"],
        jit_compile=variant["jit"],
    )
    return model


def fit_inputs(variant: dict[str, Any], x: Any, y: Any, xv: Any, yv: Any) -> dict[str, Any]:
    """`model.fit` arguments for the variant's input pipeline."""
    import tensorflow as tf

    val_batch = variant.get("val_batch", 32)
    if variant["input"] == "tfdata":
        train = (
            tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x)).batch(32).prefetch(tf.data.AUTOTUNE)
        )
        val = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(val_batch).cache()
        return {"x": train, "validation_data": val}
    if variant["input"] == "zerocopy":
        x, y, xv, yv = (shared_tensor(a) for a in (x, y, xv, yv))
    return {"x": x, "y": y, "batch_size": 32, "validation_data": (xv, yv), "validation_batch_size": val_batch}


def shared_tensor(array: Any) -> Any:
    """A TensorFlow tensor on the array's own memory (DLPack), copied once only if misaligned."""
    import numpy as np
    import tensorflow as tf

    if array.ctypes.data % 64:
        buffer = np.empty(array.size + 16, dtype=array.dtype)
        offset = (-buffer.ctypes.data % 64) // array.itemsize
        aligned = buffer[offset : offset + array.size].reshape(array.shape)
        aligned[...] = array
        array = aligned
    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())


def child(variant: dict[str, Any], data: str, epochs: int, seed: int) -> dict[str, Any]:
    """One variant's training (`variant`: what it changes in BASE), timed per epoch and as a whole."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from bench.seed_loop import epoch_timer

    variant = {**BASE, **variant}
    configure(variant)
    keras.utils.set_random_seed(seed)
    with np.load(data) as raw:
        x = raw["xtr"].reshape(-1, 784).astype("float32") / 255
        y = raw["ytr"].astype("int64")
        xt, yt = raw["xte"].reshape(-1, 784).astype("float32") / 255, raw["yte"].astype("int64")
    model = build(variant)
    seconds: list[float] = []
    start = time.perf_counter()
    model.fit(
        **fit_inputs(variant, x[:48000], y[:48000], x[48000:], y[48000:]),
        epochs=epochs, shuffle=True, verbose=0, callbacks=[epoch_timer(seconds)],
    )  # fmt: skip
    fit_seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(xt, yt, batch_size=1024, verbose=0)
    return {"epoch_seconds": seconds, "fit_seconds": fit_seconds, "test_accuracy": float(accuracy)}


COLUMNS = [
    Column("epoch 1 s", lambda rs: median(r["epoch_seconds"][0] for r in rs), fmt=".2f"),
    Column("steady s/epoch", lambda rs: median(steady(r) for r in rs), fmt=".2f"),
    Column("best epoch s", lambda rs: min(min(r["epoch_seconds"][1:]) for r in rs), fmt=".2f"),
    Column(
        "all-in s/epoch", lambda rs: median(r["fit_seconds"] / len(r["epoch_seconds"]) for r in rs), fmt=".2f"
    ),
    Column("test acc", median_of("test_accuracy"), fmt=".4f"),
    Column("peak MB", largest("peak_mib"), fmt=".0f"),
]
DEFAULTS = next(iter(VARIANTS))


@benchmark(
    __doc__,
    child=child,
    defaults={"rounds": 2, "epochs": 5, "only": list(VARIANTS)},
    quick={"epochs": 2, "only": list(VARIANTS)[:2]},
    steady_state=True,
    flags={"--only": {"nargs": "*", "help": "variant names to run (default: all)"}},
)
def main(bench: Session) -> None:
    args, ws = bench.args, bench.workspace
    print(f"data: {ws.source}; {args.epochs} epochs, {args.rounds} rounds, alternated")

    def variant(name: str) -> Any:
        spec = {"variant": VARIANTS[name], "data": str(ws.raw_npz), "epochs": args.epochs}
        return lambda round_: bench.child({**spec, "seed": round_})

    results = bench.alternate(
        {name: variant(name) for name in args.only}, describe=lambda r: str(r["epoch_seconds"])
    )
    ratios = [(name, DEFAULTS) for name in args.only if name != DEFAULTS and DEFAULTS in args.only]
    print(
        ratio_table(
            results, COLUMNS, ratios, first="variant", ratio_label=lambda n, _: f"ratio {n} / defaults"
        )
    )


if __name__ == "__main__":
    main()
