"""The MLP of the seed notebook (`model.name: mlp`), with dropout where the config puts it.

    flat pixels -> [input dropout] -> (Dense -> dropout) per hidden size -> Dense softmax

The model is returned uncompiled: training chooses the optimizer and the loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipeline.core.config import ModelConfig
from pipeline.model.blocks import dense_head, dropout

if TYPE_CHECKING:
    import keras

# No keys beyond the shared ones (hidden_units, activation, dropout, max_norm).
Config = ModelConfig


def build_model(
    cfg: ModelConfig, image_shape: Sequence[int] = (28, 28), num_classes: int = 10, seed: int = 0
) -> keras.Model:
    """The configured MLP on rows of `prod(image_shape)` pixels; a dropout rate of 0 adds no
    dropout layer at all (not a no-op one)."""
    import keras

    inputs = keras.Input(shape=(math.prod(image_shape),), name="inputs")
    x = inputs
    if cfg.dropout.input_rate > 0:
        x = dropout(cfg.dropout.impl, cfg.dropout.input_rate, seed, name="input_dropout")(x)
    return keras.Model(inputs, dense_head(x, cfg, num_classes, seed), name="mlp")
