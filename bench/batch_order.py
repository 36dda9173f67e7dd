"""Batch order: Keras' `fit(shuffle=True)` vs `pipeline.training.batches.EpochBatches` (order by seed, epoch).

    python -m bench.batch_order [--epochs 3] [--rounds 1] [--cpus ''] [--quick]

Each contender trains the default config (conf/) in a fresh process on the same processed data
(real MNIST when a mirror is found, see harness.mnist_mirror) and reports seconds per epoch (median
over every epoch of every round, epoch 1 included) and peak memory; with several rounds the two are
alternated. Resume-exactness needs the stateless order; this shows its cost. Timings are noisy on a
shared machine: the figures are medians of this one run; nothing is asserted. `--quick`: 1 epoch.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from bench.harness import (
    Column,
    Parser,
    Result,
    alternate,
    emit,
    largest,
    median,
    prepare_workspace,
    ratio_table,
    run_child,
    settings_for,
    temp_root,
)

CONTENDERS = ("keras-shuffle", "epoch-batches")


def child(contender: str, epochs: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from pipeline.core.config import project_path
    from pipeline.data.preprocess import load_processed
    from pipeline.model.mlp import build_model
    from pipeline.training.batches import EpochBatches, in_order
    from pipeline.training.loop import compile_model, configure_runtime

    settings = settings_for([f"train.epochs={epochs}"])
    data = load_processed(project_path("data", "processed", "mnist.npz"))
    configure_runtime(settings.train)
    model = build_model(settings.model, 784, 10, seed=settings.train.seed)
    compile_model(model, settings.train)
    seconds: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    validation = in_order(data.x_val, data.y_val, settings.train.batch_size)
    common = {"epochs": epochs, "validation_data": validation, "verbose": 0}
    if contender == "keras-shuffle":  # Keras' own batching of float32 arrays in [0, 1]
        x_train = data.x_train.astype(np.float32) / np.float32(255)
        model.fit(x_train, data.y_train, batch_size=settings.train.batch_size, shuffle=True,
                  callbacks=[Timer()], **common)  # fmt: skip
    else:
        batches = EpochBatches(data.x_train, data.y_train, settings.train.batch_size, settings.train.seed)
        model.fit(batches.dataset, shuffle=False, callbacks=[batches.keras_callback(), Timer()],
                  **common)  # fmt: skip
    emit({"seconds": seconds})


def every_epoch(results: list[Result]) -> list[float]:
    return [s for r in results for s in r["seconds"]]


COLUMNS = [
    Column("s/epoch (median)", lambda rs: median(every_epoch(rs)), fmt=".3f"),
    Column("each epoch", lambda rs: " ".join(f"{s:.2f}" for s in every_epoch(rs)), fmt=""),
    Column("peak MiB", largest("peak_mib"), fmt=".0f"),
]


def main() -> None:
    parser = Parser(__doc__, defaults={"epochs": 3}, quick={"epochs": 1})
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        child(spec["contender"], spec["epochs"])
        return
    with temp_root("batch-order") as tmp:
        ws = prepare_workspace(Path(tmp))
        print(f"data: {ws.source}; {args.epochs} epochs, {args.rounds} round(s)")

        def contender(name: str):
            spec = json.dumps({"contender": name, "epochs": args.epochs})
            argv = [sys.executable, "-m", "bench.batch_order", "--child", spec]
            return lambda _: run_child(argv, ws.env(), ws.root, args.cpus)

        results = alternate({name: contender(name) for name in CONTENDERS}, range(1, args.rounds + 1))
    print(ratio_table(results, COLUMNS, [("epoch-batches", "keras-shuffle")], first="batches"))


if __name__ == "__main__":
    sys.exit(main())
