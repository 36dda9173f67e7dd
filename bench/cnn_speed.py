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

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    Column,
    Parser,
    Result,
    Workspace,
    alternate,
    begin,
    emit,
    end,
    median,
    prepare_workspace,
    ratio_table,
    run_child,
    settings_for,
    temp_root,
    verdict,
)

TARGET_RATIO = 1.0


def child(contender: str, seed: int, epochs: int, train_size: int, overrides: list[str]) -> dict[str, Any]:
    """One training of the CNN by `contender` (keras_fit or project); every epoch's seconds."""
    import keras

    from pipeline.core.paths import project_path
    from pipeline.data.build import load_for
    from pipeline.training.loop import build_and_fit, compile_model, configure_runtime
    from pipeline.training.steps import VALIDATION_BATCH

    cli = ["model=cnn", f"data.train_size={train_size}", f"train.seed={seed}", f"train.epochs={epochs}"]
    settings = settings_for([*overrides, *cli, "train.progress=false"])
    data = load_for(settings.data, project_path())
    seconds: list[float] = []
    if contender == "project":
        build_and_fit(settings, data, on_epoch=[lambda row, s: seconds.append(s)])
        return {"epoch_seconds": seconds}
    from pipeline.model.registry import build_model
    from pipeline.training.recipe import steps_per_epoch

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


def run_all(ws: Workspace, rounds: int, epochs: int, train_size: int, cpus: str) -> dict[str, list[Result]]:
    def command(contender: str, seed: int) -> list[str]:
        spec = {"contender": contender, "seed": seed, "epochs": epochs, "train_size": train_size,
                "overrides": ws.overrides}  # fmt: skip
        return [sys.executable, "-m", "bench.cnn_speed", "--child", json.dumps(spec)]

    contenders = {
        "a": lambda seed: run_child(command("keras_fit", seed), ws.env(), ws.root, cpus),
        "b": lambda seed: run_child(command("project", seed), ws.env(), ws.root, cpus),
    }
    epochs_line = lambda r: "epochs [" + " ".join(f"{s:.2f}" for s in r["epoch_seconds"]) + "] s"  # noqa: E731
    return alternate(contenders, range(1, rounds + 1), describe=epochs_line, label="seed")


def per_epoch(runs: list[Result], steady: bool = False) -> float:
    return median(s for r in runs for s in (r["epoch_seconds"][1:] if steady else r["epoch_seconds"]))


COLUMNS = [
    Column("median s/epoch", per_epoch, fmt=".2f"),
    Column("epochs 2+", lambda runs: per_epoch(runs, steady=True), fmt=".2f"),
]


def main() -> None:
    parser = Parser(__doc__, cpus="0", defaults={"rounds": 2, "epochs": 4, "train_size": 10_000},
                    quick={"epochs": 2, "train_size": 2_000})  # fmt: skip
    parser.add_argument(
        "--train-size", dest="train_size", type=int, help=f"images ({parser.default('train_size')})"
    )
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        emit(child(**spec))
        from pipeline.process.exit import exit_without_teardown

        exit_without_teardown()
    begin("cnn_speed", args.cpus)
    with temp_root("bench") as tmp:
        ws = prepare_workspace(Path(tmp))
        print(f"data: {ws.source}, {args.train_size} training images; {args.epochs} epochs per run")
        results = run_all(ws, args.rounds, args.epochs, args.train_size, args.cpus)
    labels = {"a": "(a) Keras fit", "b": "(b) project compiled steps"}
    ratio = per_epoch(results["b"]) / per_epoch(results["a"])
    print("\n" + ratio_table(results, COLUMNS, [("b", "a")], labels))
    print(
        f"\n{verdict(ratio <= TARGET_RATIO)}  median s/epoch (b)/(a) = {ratio:.3f} (target <= {TARGET_RATIO})"
    )
    end()


if __name__ == "__main__":
    main()
