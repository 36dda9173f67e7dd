"""The training recipe beyond the model: optimizer, learning-rate schedule, early stopping.

Srivastava et al. (2014) trained their dropout nets with SGD, momentum, a learning rate decayed every
epoch and early stopping on a validation set; these turn `train.*` keys into the Keras objects that
do it. Schedules count optimizer steps, so a per-epoch decay needs the number of steps in an epoch.
"""

from __future__ import annotations

import math
from types import MethodType
from typing import TYPE_CHECKING, Any

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
    optimizer = optimizer_class(learning_rate=learning_rate(cfg, epoch_steps), name=cfg.optimizer, **extra)
    if isinstance(optimizer, keras.optimizers.Adam) and not optimizer.amsgrad:
        optimizer._backend_update_step = MethodType(_fused_adam_update, optimizer)
    return optimizer


def _fused_adam_update(
    optimizer: keras.optimizers.Adam, grads: list[Any], variables: list[Any], learning_rate: Any
) -> None:
    """Adam's update of every variable through TensorFlow's fused `ResourceApplyAdam` kernel.

    Keras' own Adam spends about twenty small ops per variable and step (powers, moments, the
    step); the kernel does the same arithmetic in one, with the bias corrections computed once per
    step. Bound to a plain Keras Adam, so the saved model holds a Keras Adam and loads anywhere.
    """
    import tensorflow as tf

    step = tf.cast(optimizer.iterations + 1, tf.float32)
    beta_1, beta_2 = tf.constant(optimizer.beta_1, tf.float32), tf.constant(optimizer.beta_2, tf.float32)
    shared = {
        "beta1_power": tf.pow(beta_1, step),
        "beta2_power": tf.pow(beta_2, step),
        "lr": tf.cast(learning_rate, tf.float32),
        "beta1": beta_1,
        "beta2": beta_2,
        "epsilon": tf.constant(optimizer.epsilon, tf.float32),
    }
    for grad, variable in zip(grads, variables, strict=True):
        index = optimizer._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.value.handle,
            m=optimizer._momentums[index].value.handle,
            v=optimizer._velocities[index].value.handle,
            grad=tf.cast(grad, tf.float32),
            **shared,
        )


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
