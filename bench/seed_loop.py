"""The seed notebook's training loop, as written there: the baseline every speed-up is measured against.

    python bench/seed_loop.py --data raw.npz [--seed 1] [--epochs 5] [--rate 0.5]
    python -m bench.seed_loop ...  (the same)

Plain `model.fit` with one-hot labels, batch 32, `validation_split=0.2`, TensorFlow's default threads,
no determinism, no `steps_per_execution`. The only additions: a seed (so accuracies can be averaged
over seeds), the dropout rate as a parameter (for sweeps; 0.5 as in the notebook), and timing.
Prints one result line (see `emit`). Imports nothing of the project, so its start-up is the notebook's;
the benchmarks run it as a file (`harness.workspace.SEED_SCRIPT`) for the same reason.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "


def emit(result: dict[str, Any]) -> None:
    """A child's one result line (the prefix keeps it apart from anything a library prints)."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def epoch_timer(seconds: list[float]) -> Any:
    """A Keras callback appending each epoch's wall time (training + validation) to `seconds`."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            seconds.append(time.perf_counter() - self.start)

    return EpochTimer()


def seed_loop(data: Path, seed: int, epochs: int, rate: float) -> dict[str, Any]:
    """The notebook's cells (mnist.load_data() replaced by the same arrays from `data`)."""
    import keras
    import numpy as np
    from keras.layers import Dense, Dropout
    from keras.models import Sequential

    keras.utils.set_random_seed(seed)
    with np.load(data) as mnist:
        (x_train, y_train), (x_test, y_test) = (mnist["xtr"], mnist["ytr"]), (mnist["xte"], mnist["yte"])
    x_train = x_train.reshape(60000, 784).astype("float32") / 255
    x_test = x_test.reshape(10000, 784).astype("float32") / 255
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)
    model = Sequential(
        [
            Dense(128, activation="relu", input_shape=(784,)),
            Dropout(rate),
            Dense(64, activation="relu"),
            Dropout(rate),
            Dense(10, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    seconds: list[float] = []
    start = time.perf_counter()
    model.fit(
        x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.2, verbose=0,
        callbacks=[epoch_timer(seconds)],
    )  # fmt: skip
    fit_seconds = time.perf_counter() - start
    _, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {
        "epoch_seconds": seconds,
        "fit_seconds": fit_seconds,
        "test_accuracy": float(test_accuracy),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="npz with xtr, ytr, xte, yte (uint8)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=0.5, help="dropout rate (probability of dropping)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as the project does: no C++ start-up chatter
    emit(seed_loop(args.data, args.seed, args.epochs, args.rate))


if __name__ == "__main__":
    main()
