"""Batch order: Keras' `fit(shuffle=True)` vs `pipeline.training.batches.EpochBatches` (order = f(seed, epoch)).

    python bench/batch_order.py [--epochs 3]

Each contender trains the default config (conf/) in a fresh process on the same processed data
(real MNIST when a mirror is found, see workspace.mnist_mirror) and reports seconds per epoch (median,
epoch 1 included) and peak memory. Resume-exactness needs the stateless order; this shows its cost.
Timings are noisy on a shared machine: the figures are medians of this one run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from workspace import emit, median, prepare_workspace, run_child, settings_for, table

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
    emit({"seconds": seconds, "median": median(seconds)})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--child", choices=CONTENDERS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.epochs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workspace = prepare_workspace(Path(tmp))
        print(f"data: {workspace.source}")
        results = {
            name: run_child(
                [sys.executable, __file__, "--child", name, "--epochs", str(args.epochs)],
                workspace.env(),
                workspace.root,
            )
            for name in CONTENDERS
        }
    rows = [[name, f"{r['median']:.3f}", " ".join(f"{s:.2f}" for s in r["seconds"]), f"{r['peak_mib']:.0f}"]
            for name, r in results.items()]  # fmt: skip
    print(table(rows, ["batches", "s/epoch (median)", "each epoch", "peak MiB"]))
    ratio = results["epoch-batches"]["median"] / results["keras-shuffle"]["median"]
    print(f"epoch-batches / keras-shuffle: {ratio:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
