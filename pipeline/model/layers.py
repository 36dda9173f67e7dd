"""`ScratchDropout`: inverted dropout as a Keras 3 layer, built from uniform draws.

It is what `pipeline.model.dropout.Dropout` does, in Keras ops, so autodiff supplies the gradient and
`model.fit` the training flag. It deliberately does not call Keras' own dropout: the tests compare
the two. `rate` is the probability of DROPPING a unit (Keras' convention; the paper's p = 1 - rate).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from pipeline.model.dropout import check_rate


@keras.saving.register_keras_serializable(package="dropout_lab")
class ScratchDropout(keras.layers.Layer):
    """Zeroes each unit with probability `rate` in training and scales the kept ones by 1/(1 - rate).

    Inference is the identity. `noise_shape` (None entries take the input's size) shares one mask
    draw along the axes of size 1, e.g. `(None, 1, features)` for one mask per sequence. `seed`
    seeds the layer's own `SeedGenerator`, whose state advances with every training call.
    """

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rate = check_rate(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs: Any, training: bool = False) -> Any:
        if not training or self.rate == 0.0:
            return inputs
        uniform = keras.random.uniform(self._mask_shape(inputs), seed=self.seed_generator)
        scale = 1.0 / (1.0 - self.rate)
        factor = keras.ops.where(uniform >= self.rate, scale, 0.0)
        return inputs * keras.ops.cast(factor, inputs.dtype)

    def _mask_shape(self, inputs: Any) -> tuple[Any, ...]:
        shape = keras.ops.shape(inputs)
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise ValueError(
                f"noise_shape {self.noise_shape} must have one entry per input axis ({len(shape)})"
            )
        return tuple(dim if size is None else size for size, dim in zip(self.noise_shape, shape, strict=True))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}
