"""Per-epoch speed on the CNN: the project's compiled training steps vs Keras' own `fit`, same net.

    python -m bench.cnn_speed [--quick] [--epochs 4] [--rounds 2] [--train-size 10000] [--cpus 0]

In one run, alternating a, b each round, every run a fresh process pinned to `--cpus`, on the same
model (`model=cnn` as conf/ composes it, seed = round) and the same data (a `--train-size`
class-stratified subset of MNIST, Fashion-MNIST's shapes; the whole validation split):
  (a) Keras' `model.fit`: the model built and compiled by the project (`compile_model`: the same
      optimizer and loss), fed float32 arrays in [0, 1], with Keras' own `steps_per_execution` set
      to the config's and the validation batches the project uses,
  (b) the project's `pipeline.training.loop.build_and_fit`.
Prints seconds per epoch (training + validation pass; median over every epoch of every run,
epoch 1 included, and the steady epochs 2+), the ratio b/a (target <= 1) and PASS/FAIL. Nothing is
asserted. `--quick`: one round, 2 epochs, 2,000 images.
"""

from __future__ import annotations

import time
from typing import Any

from bench.harness.children import Result
from bench.harness.fit import settings_and_data, timed_fit
from bench.harness.session import Session, benchmark
from bench.harness.tables import Column, median, ratio_table, verdict

TARGET_RATIO = 1.0


def child(contender: str, seed: int, epochs: int, train_size: int, overrides: list[str]) -> dict[str, Any]:
    """One training of the CNN by `contender` (keras_fit or project); every epoch's seconds."""
    cli = ["model=cnn", f"data.train_size={train_size}", f"train.seed={seed}", f"train.epochs={epochs}"]
    if contender == "project":
        return {"epoch_seconds": timed_fit([*overrides, *cli]).epoch_seconds}
    import keras

    from pipeline.model.registry import build_model
    from pipeline.training.loop import compile_model, configure_runtime
    from pipeline.training.recipe import steps_per_epoch
    from pipeline.training.steps import VALIDATION_BATCH

    settings, data = settings_and_data([*overrides, *cli])
    seconds: list[float] = []
    configure_runtime(settings.train)
    cfg = settings.train
    model = build_model(settings.model, data.image_shape, 10, cfg.seed)
    compile_model(model, cfg, steps_per_epoch(len(data.x_train), cfg.batch_size))
    model.jit_compile, model.steps_per_execution = False, cfg.steps_per_execution

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            seconds.append(time.perf_counter() - self.start)

    def unit(x: Any) -> Any:
        return x.astype("float32") / 255.0

    model.fit(
        unit(data.x_train), data.y_train, batch_size=cfg.batch_size, epochs=epochs, verbose=0,
        validation_data=(unit(data.x_val), data.y_val), validation_batch_size=VALIDATION_BATCH,
        callbacks=[Timer()],
    )  # fmt: skip
    return {"epoch_seconds": seconds}


def contenders(bench: Session) -> dict[str, Any]:
    args = bench.args

    def run(contender: str) -> Any:
        spec = {"contender": contender, "epochs": args.epochs, "train_size": args.train_size,
                "overrides": bench.workspace.overrides}  # fmt: skip
        return lambda seed: bench.child({**spec, "seed": seed})

    return {"a": run("keras_fit"), "b": run("project")}


def epochs_line(result: Result) -> str:
    return "epochs [" + " ".join(f"{s:.2f}" for s in result["epoch_seconds"]) + "] s"


def per_epoch(runs: list[Result], steady: bool = False) -> float:
    return median(s for r in runs for s in (r["epoch_seconds"][1:] if steady else r["epoch_seconds"]))


COLUMNS = [
    Column("median s/epoch", per_epoch, fmt=".2f"),
    Column("epochs 2+", lambda runs: per_epoch(runs, steady=True), fmt=".2f"),
]


@benchmark(
    __doc__,
    child=child,
    cpus="0",
    defaults={"rounds": 2, "epochs": 4, "train_size": 10_000},
    steady_state=True,
    quick={"epochs": 2, "train_size": 2_000},
    flags={"--train-size": {"dest": "train_size", "type": int, "help": "images (10000; 2000 with --quick)"}},
)
def main(bench: Session) -> None:
    args = bench.args
    print(f"data: {bench.workspace.source}, {args.train_size} training images; {args.epochs} epochs per run")
    results = bench.alternate(contenders(bench), describe=epochs_line, label="seed")
    labels = {"a": "(a) Keras fit", "b": "(b) project compiled steps"}
    ratio = per_epoch(results["b"]) / per_epoch(results["a"])
    print("\n" + ratio_table(results, COLUMNS, [("b", "a")], labels))
    print(
        f"\n{verdict(ratio <= TARGET_RATIO)}  median s/epoch (b)/(a) = {ratio:.3f} (target <= {TARGET_RATIO})"
    )


if __name__ == "__main__":
    main()
