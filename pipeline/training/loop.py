"""The training loop: seeded runtime, compiled model, epochs with per-epoch hooks (no tracking, no files).

What tests and benchmarks call directly; `pipeline.runs.tracked_training` wraps it in an MLflow run
and writes its files (`pipeline.training.outputs`).
TensorFlow is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline.core.config import Settings, TrainConfig
from pipeline.data.aligned import ALIGNMENT
from pipeline.process import interrupts
from pipeline.training import checkpoint
from pipeline.training.epoch_metrics import HISTORY_COLUMNS, TRAIN_KEYS, VAL_PREFIX, epoch_text, history_row
from pipeline.training.recipe import build_optimizer, early_stopping, steps_per_epoch

if TYPE_CHECKING:
    import keras

    from pipeline.data.processed import ProcessedData
    from pipeline.training.checkpoint import Checkpoint
    from pipeline.training.steps import CompiledSteps

log = logging.getLogger(__name__)

# Called after each epoch with the epoch's history row (1-based `epoch`) and its duration in seconds.
EpochHook = Callable[[dict[str, float], float], None]


class StopTraining(Exception):
    """Raised by an epoch hook to end the training after this epoch (a search prunes a trial so)."""


@dataclass
class TrainResult:
    """A fitted model, its per-epoch history (1-based epochs) and the median epoch time; `stopped`
    when an epoch hook ended it early."""

    model: keras.Model
    history: pd.DataFrame
    seconds_per_epoch: float
    stopped: StopTraining | None = None


def configure_runtime(cfg: TrainConfig) -> None:
    """Seed every generator and make ops deterministic, so the same config gives the same numbers.

    Thread counts can only be set before TensorFlow runs its first op; later calls (a second
    training in the same process) keep the threads already chosen.
    """
    import keras
    import tensorflow as tf

    if cfg.threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(cfg.threads)
            tf.config.threading.set_inter_op_parallelism_threads(cfg.threads)
        except RuntimeError:
            log.debug("TensorFlow already initialised; keeping its thread settings")
    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()


def compile_model(model: keras.Model, cfg: TrainConfig, epoch_steps: int = 1) -> None:
    """Integer labels with sparse cross-entropy: the same loss as one-hot, without the copy.

    `epoch_steps` (optimizer steps per epoch) turns a per-epoch learning-rate decay into steps.
    """
    model.compile(
        optimizer=build_optimizer(cfg, epoch_steps),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def log_epoch_line(row: dict[str, float], seconds: float, prefix: str = "") -> None:
    """One concise line per epoch, for logs where a progress bar would be noise; `prefix` says
    whose it is (a sweep job's label)."""
    log.info("%s%s", prefix, epoch_text(row, seconds))


def print_epoch_line(row: dict[str, float], seconds: float, prefix: str = "") -> None:
    """The same line on stdout, for a process that configured no logging (a notebook, a script)."""
    print(f"{prefix}{epoch_text(row, seconds)}", flush=True)


def epoch_line_hook(prefix: str = "") -> EpochHook:
    """One line per epoch, starting with `prefix`: logged where logging has a handler (Hydra apps
    configure one), printed where it has none, since Python would drop the INFO line (Jupyter, a
    plain script)."""
    line = log_epoch_line if log.hasHandlers() else print_epoch_line
    return lambda row, seconds: line(row, seconds, prefix)


def fit(
    model: keras.Model,
    data: ProcessedData,
    cfg: TrainConfig,
    on_epoch: Sequence[EpochHook] = (),
    done: Sequence[dict[str, float]] = (),
    line_prefix: str = "",
) -> TrainResult:
    """Fit on the training split, validating on the held-out split after every epoch
    (and stopping early on it when `train.early_stopping_patience` says so).

    `done` are the history rows of epochs a restored model already trained (a resume): fitting
    continues with the next epoch. Epoch e's batch order is a function of (seed, e) (see
    `pipeline.training.batches`), so a resumed fit sees exactly the batches an uninterrupted one would.
    Every epoch line starts with `line_prefix`; a job with one (a sweep's) prints lines, never a
    progress bar: its siblings share the terminal, and bars would draw over each other.
    """
    from pipeline.training.steps import CompiledSteps

    hooks = list(on_epoch)
    show_bar = cfg.progress and sys.stdout.isatty() and not line_prefix
    if cfg.progress and not show_bar:
        hooks.append(epoch_line_hook(line_prefix))
    rows: list[dict[str, float]] = []
    seconds: list[float] = []
    stopped = None
    if len(done) < cfg.epochs:
        # Tensors on the arrays' own memory where they allow it: converting them would copy them.
        steps = CompiledSteps(model, shared_tensor(data.x_train), shared_tensor(data.y_train), cfg.batch_size)
        x_val, y_val = shared_tensor(data.x_val), shared_tensor(data.y_val)
        stoppers = early_stopping(cfg)
        for callback in stoppers:
            callback.set_model(model)
            callback.on_train_begin()
        for epoch in range(len(done), cfg.epochs):
            start = time.perf_counter()
            train = train_epoch(steps, cfg, epoch, show_bar)
            val = steps.validate(x_val, y_val).values()
            seconds.append(time.perf_counter() - start)
            row = history_row(epoch + 1, train, val)
            rows.append(row)
            try:
                with interrupts.deferred():  # a cancel waits for the epoch's records to be whole
                    for hook in hooks:
                        hook(row, seconds[-1])
            except StopTraining as stop:
                stopped = stop
                break
            if show_bar:
                print("".join(f"  {VAL_PREFIX}{key} {value:.4f}" for key, value in val.items()), flush=True)
            for callback in stoppers:
                callback.on_epoch_end(epoch, row)
            if model.stop_training:
                break
    history = pd.DataFrame([*done, *rows], columns=HISTORY_COLUMNS)
    median = float(pd.Series(seconds).median()) if seconds else float("nan")
    return TrainResult(model, history, median, stopped)


def train_epoch(steps: CompiledSteps, cfg: TrainConfig, epoch: int, show_bar: bool) -> dict[str, float]:
    """One epoch's optimizer steps, `train.steps_per_execution` per call into TensorFlow;
    returns each per-epoch metric's value over it. A progress bar follows the calls when `show_bar`."""
    import keras

    from pipeline.training.batches import order_tensor
    from pipeline.training.steps import NO_SUMS

    order = order_tensor(steps.examples, cfg.seed, epoch)
    bar = None
    if show_bar:
        print(f"Epoch {epoch + 1}/{cfg.epochs}", flush=True)
        bar = keras.utils.Progbar(steps.steps, stateful_metrics=list(TRAIN_KEYS))
    sums = NO_SUMS
    for first in range(0, steps.steps, cfg.steps_per_execution):
        last = min(first + cfg.steps_per_execution, steps.steps)
        sums = steps.train(order, first, last, sums)
        if bar is not None:
            bar.update(last, list(sums.values().items()))
    return sums.values()


def shared_tensor(array: Any) -> Any:
    """A tensor on `array`'s own memory when it is 64-byte aligned, C-contiguous, writeable and in
    native byte order (what DLPack takes); otherwise `array` itself, which TensorFlow copies.

    Converting NumPy inputs to tensors costs about twice their size; a tensor is used as it is:
    the same batches in the same order, so the same numbers.
    """
    if not isinstance(array, np.ndarray) or not array.dtype.isnative or array.size == 0:
        return array
    if not array.flags.c_contiguous or not array.flags.writeable or array.ctypes.data % ALIGNMENT:
        return array
    import tensorflow as tf

    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())


def build_and_fit(
    settings: Settings,
    data: ProcessedData,
    on_epoch: Sequence[EpochHook] = (),
    start: Checkpoint | None = None,
    save_to: checkpoint.Target | None = None,
    line_prefix: str = "",
) -> TrainResult:
    """The whole training of one config, without tracking: what tests and benchmarks call.

    `start` resumes from a checkpoint of this config; `save_to` checkpoints after every epoch,
    before the `on_epoch` hooks run (so what they record is never ahead of the checkpoint).
    `line_prefix` starts every epoch line (a sweep job's label, see `fit`).
    """
    from pipeline.model.registry import build_model

    configure_runtime(settings.train)
    model = build_model(
        settings.model,
        image_shape=data.image_shape,
        num_classes=int(data.y_train.max()) + 1,
        seed=settings.train.seed,
    )
    compile_model(model, settings.train, steps_per_epoch(len(data.x_train), settings.train.batch_size))
    done = start.history if start else []
    if start:
        checkpoint.restore(model, start)
    hooks = [checkpoint.saver(model, save_to, done)] if save_to else []
    return fit(model, data, settings.train, [*hooks, *on_epoch], done, line_prefix)


def final_metrics(history: pd.DataFrame) -> dict[str, float]:
    """The last epoch's numbers, as `dvc metrics show` tabulates them."""
    last = history.iloc[-1]
    metrics = {key: round(float(last[key]), 6) for key in HISTORY_COLUMNS[1:]}
    return {**metrics, "epochs": len(history)}
