"""A small convolutional net for one-channel images (`model.name: cnn`), with dropout in two places.

    flat pixels -> image -> [input dropout] -> (Conv2D -> 2x2 max-pool -> feature-map dropout)
    per entry of `model.filters` -> flatten -> (Dense -> dropout) per hidden size -> Dense softmax

The dense head's dropout is `model.dropout.rate`, as in the MLP; the feature maps' is
`model.feature_dropout.rate`: `standard` drops single activations, `spatial` whole feature maps
(one draw per map and example: neighbouring pixels of a map are strongly correlated, so dropping
them one by one hardly removes information). Both work with either implementation
(`model.dropout.impl`); ours does spatial dropout with a noise shape of (batch, 1, 1, channels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from pipeline.core.config import ModelConfig, Rate, _Strict
from pipeline.model.blocks import dense_head, dropout, initializer, layer_seed

if TYPE_CHECKING:
    import keras


class FeatureDropout(_Strict):
    rate: Rate
    kind: Literal["standard", "spatial"]


class Config(ModelConfig):
    """The shared keys (the dense head's sizes, activation, dropout, max-norm) and the conv blocks'."""

    filters: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=1)]
    kernel_size: Annotated[int, Field(gt=0)]
    feature_dropout: FeatureDropout


def build_model(
    cfg: ModelConfig, image_shape: Sequence[int] = (28, 28), num_classes: int = 10, seed: int = 0
) -> keras.Model:
    """The configured CNN on rows of `prod(image_shape)` pixels; a rate of 0 adds no dropout layer."""
    import keras

    assert isinstance(cfg, Config), f"model.name: cnn needs the cnn config, got {type(cfg).__name__}"
    inputs = keras.Input(shape=(math.prod(image_shape),), name="inputs")
    x = keras.layers.Reshape((*image_shape, 1), name="image")(inputs)
    if cfg.dropout.input_rate > 0:
        x = dropout(cfg.dropout.impl, cfg.dropout.input_rate, seed, name="input_dropout")(x)
    maps = cfg.feature_dropout
    for index, filters in enumerate(cfg.filters, start=1):
        x = keras.layers.Conv2D(
            filters,
            cfg.kernel_size,
            padding="same",
            activation=cfg.activation,
            kernel_initializer=initializer(seed, f"conv_{index}"),
            name=f"conv_{index}",
        )(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool_{index}")(x)
        if maps.rate > 0:
            x = _feature_dropout(cfg, seed, f"feature_dropout_{index}", filters)(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, dense_head(x, cfg, num_classes, seed), name="cnn")


def _feature_dropout(cfg: Config, seed: int, name: str, filters: int) -> keras.layers.Layer:
    """Dropout of single activations (standard) or of whole maps (spatial: Keras' SpatialDropout2D,
    or ours with one draw per example and map)."""
    import keras

    impl, rate = cfg.dropout.impl, cfg.feature_dropout.rate
    if cfg.feature_dropout.kind == "standard":
        return dropout(impl, rate, seed, name)
    if impl == "keras":
        return keras.layers.SpatialDropout2D(rate, seed=layer_seed(seed, name), name=name)
    return dropout(impl, rate, seed, name, noise_shape=(None, 1, 1, filters))
