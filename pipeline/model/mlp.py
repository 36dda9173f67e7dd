"""The MLP of the seed notebook, with dropout where the config puts it.

    inputs -> [input dropout] -> (Dense -> dropout) per hidden size -> Dense softmax

Every random choice (a layer's initial weights, a dropout layer's masks) has its own seed, derived
from `seed` and the layer's name: the same config and seed build the same model, and models that
differ only in dropout start from the same weights, so a comparison of rates compares dropout alone.
The model is returned uncompiled: `pipeline.train` chooses the optimizer and the loss.
"""

from __future__ import annotations

import keras
import numpy as np

from pipeline.core.config import DropoutConfig, ModelConfig
from pipeline.model.layers import ScratchDropout


def build_model(cfg: ModelConfig, input_dim: int = 784, num_classes: int = 10, seed: int = 0) -> keras.Model:
    """The configured MLP; a dropout rate of 0 adds no dropout layer at all (not a no-op one)."""
    constraint = None if cfg.max_norm is None else keras.constraints.MaxNorm(cfg.max_norm)

    inputs = keras.Input(shape=(input_dim,), name="inputs")
    x = inputs
    if cfg.dropout.input_rate > 0:
        x = _dropout(cfg.dropout, cfg.dropout.input_rate, seed, name="input_dropout")(x)
    for index, units in enumerate(cfg.hidden_units, start=1):
        x = keras.layers.Dense(
            units,
            activation=cfg.activation,
            kernel_initializer=_initializer(seed, f"hidden_{index}"),
            kernel_constraint=constraint,
            name=f"hidden_{index}",
        )(x)
        if cfg.dropout.rate > 0:
            x = _dropout(cfg.dropout, cfg.dropout.rate, seed, name=f"dropout_{index}")(x)
    outputs = keras.layers.Dense(
        num_classes,
        activation="softmax",
        kernel_initializer=_initializer(seed, "output"),
        name="output",
    )(x)
    return keras.Model(inputs, outputs, name="mlp")


def has_dropout(model: keras.Model) -> bool:
    """Whether any of the model's layers drops units in training: Monte-Carlo dropout needs one."""
    return any(
        isinstance(layer, keras.layers.Dropout | ScratchDropout) and layer.rate > 0 for layer in model.layers
    )


def _dropout(cfg: DropoutConfig, rate: float, seed: int, name: str) -> keras.layers.Layer:
    """The dropout implementation the config names (Keras' own, or ours), seeded for its place."""
    layer_class = ScratchDropout if cfg.impl == "scratch" else keras.layers.Dropout
    return layer_class(rate, seed=layer_seed(seed, name), name=name)


def _initializer(seed: int, name: str) -> keras.initializers.Initializer:
    return keras.initializers.GlorotUniform(seed=layer_seed(seed, name))


def layer_seed(seed: int, name: str) -> int:
    """The seed of the layer called `name`: NumPy's SeedSequence mixes both, so neighbouring
    seeds and neighbouring layers get unrelated streams."""
    return int(np.random.SeedSequence([seed, *name.encode()]).generate_state(1)[0])
