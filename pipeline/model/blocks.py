"""What the model builders share: seeded initializers and dropout layers, the dense head, and
whether a built model drops units. Keras is imported inside the functions, so a model module that
uses these still imports without TensorFlow (its config is validated first).

Every random choice (a layer's initial weights, a dropout layer's masks) has its own seed, derived
from the training seed and the layer's name: the same config and seed build the same model, and
models that differ only in dropout start from the same weights, so a comparison of rates compares
dropout alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.core.config import ModelConfig

if TYPE_CHECKING:
    import keras


def layer_seed(seed: int, name: str) -> int:
    """The seed of the layer called `name`: NumPy's SeedSequence mixes both, so neighbouring
    seeds and neighbouring layers get unrelated streams."""
    return int(np.random.SeedSequence([seed, *name.encode()]).generate_state(1)[0])


def initializer(seed: int, name: str) -> keras.initializers.Initializer:
    import keras

    return keras.initializers.GlorotUniform(seed=layer_seed(seed, name))


def dropout(
    impl: str, rate: float, seed: int, name: str, noise_shape: Sequence[int | None] | None = None
) -> keras.layers.Layer:
    """Dropout in the implementation the config names (Keras' own, or ours), seeded for its place.
    `noise_shape` shares one draw along its axes of size 1 (whole feature maps, say)."""
    import keras

    from pipeline.model.layers import ScratchDropout

    layer_class = ScratchDropout if impl == "scratch" else keras.layers.Dropout
    return layer_class(rate, noise_shape=noise_shape, seed=layer_seed(seed, name), name=name)


def dense_head(x: Any, cfg: ModelConfig, num_classes: int, seed: int) -> Any:
    """(Dense -> dropout at `model.dropout.rate`) per hidden size, then a Dense softmax; max-norm
    on the hidden kernels when `model.max_norm` is set. A rate of 0 adds no dropout layer at all."""
    import keras

    constraint = None if cfg.max_norm is None else keras.constraints.MaxNorm(cfg.max_norm)
    for index, units in enumerate(cfg.hidden_units, start=1):
        x = keras.layers.Dense(
            units,
            activation=cfg.activation,
            kernel_initializer=initializer(seed, f"hidden_{index}"),
            kernel_constraint=constraint,
            name=f"hidden_{index}",
        )(x)
        if cfg.dropout.rate > 0:
            x = dropout(cfg.dropout.impl, cfg.dropout.rate, seed, name=f"dropout_{index}")(x)
    return keras.layers.Dense(
        num_classes, activation="softmax", kernel_initializer=initializer(seed, "output"), name="output"
    )(x)


def has_dropout(model: keras.Model) -> bool:
    """Whether any of the model's layers drops units in training: Monte-Carlo dropout needs one."""
    import keras

    from pipeline.model.layers import ScratchDropout

    return any(
        isinstance(layer, keras.layers.Dropout | ScratchDropout) and layer.rate > 0 for layer in model.layers
    )
