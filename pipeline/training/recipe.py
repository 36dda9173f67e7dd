"""The training recipe beyond the model: optimizer, learning-rate schedule, early stopping.

Srivastava et al. (2014) trained their dropout nets with SGD, momentum, a learning rate decayed every
epoch and early stopping on a validation set; these turn `train.*` keys into the Keras objects that
do it. Schedules count optimizer steps, so a per-epoch decay needs the number of steps in an epoch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pipeline.core.config import TrainConfig

if TYPE_CHECKING:
    import keras


def steps_per_epoch(train_examples: int, batch_size: int) -> int:
    """Optimizer steps in one epoch (Keras makes a last, smaller batch of the remainder)."""
    return math.ceil(train_examples / batch_size)


def learning_rate(
    cfg: TrainConfig, epoch_steps: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The configured learning rate: a constant, or a Keras schedule decaying by `lr_decay` per
    `lr_decay_epochs` epochs (smoothly for `exponential`, in steps for `step`)."""
    import keras

    if cfg.lr_schedule == "none" or cfg.lr_decay == 1.0:
        return cfg.learning_rate
    return keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=cfg.learning_rate,
        decay_steps=epoch_steps * cfg.lr_decay_epochs,
        decay_rate=cfg.lr_decay,
        staircase=cfg.lr_schedule == "step",
    )


def build_optimizer(cfg: TrainConfig, epoch_steps: int) -> keras.optimizers.Optimizer:
    """The configured optimizer with its learning rate (schedule) and, for SGD, momentum.

    Named outright: Keras numbers unnamed optimizers per process (`adam_3`), and the name is
    saved in the model file, whose bytes must not depend on what the process did before."""
    import keras

    extra = {"momentum": cfg.momentum, "nesterov": cfg.nesterov} if cfg.optimizer == "sgd" else {}
    optimizer_class = type(keras.optimizers.get(cfg.optimizer))
    return optimizer_class(learning_rate=learning_rate(cfg, epoch_steps), name=cfg.optimizer, **extra)


def early_stopping(cfg: TrainConfig) -> list[keras.callbacks.Callback]:
    """Keras' EarlyStopping on validation loss when configured (restoring the best epoch's weights
    when it stops), else nothing."""
    import keras

    if cfg.early_stopping_patience is None:
        return []
    return [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=cfg.early_stopping_patience, restore_best_weights=True
        )
    ]
