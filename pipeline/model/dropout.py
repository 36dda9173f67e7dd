"""Dropout from scratch in NumPy: the reference the Keras layers are checked against.

Vocabulary: `rate` is the probability of DROPPING a unit (Keras' convention). The paper
(Srivastava et al., 2014) writes p for the probability of KEEPING one, so p = 1 - rate.

Dropout must leave the expected activation the same in training and at inference, or the net is
tested on inputs of a different scale from the ones it learned on. Two forms do that:

- "inverted" (default, what Keras does): kept units are scaled by 1 / (1 - rate) in training;
  inference is the identity.
- "paper" (the original): no scaling in training; at inference every activation is scaled by
  p = 1 - rate (the paper scales the outgoing weights, which is the same thing).

Masking without either scaling (the seed notebook's version: the paper's training mask, but no
scaling at inference) gives E[train] = (1 - rate) * x yet inference x. The tests build it from the
"paper" training output to show the mismatch; no mode here offers it.
"""

from __future__ import annotations

from numbers import Real
from typing import Literal

import numpy as np

Scaling = Literal["inverted", "paper"]
SCALINGS: tuple[Scaling, ...] = ("inverted", "paper")


def check_rate(rate: object) -> float:
    """The rate as a float, or a `ValueError` naming it: dropping every unit (1) leaves no signal."""
    if isinstance(rate, bool) or not isinstance(rate, Real) or not 0.0 <= float(rate) < 1.0:
        raise ValueError(
            f"dropout rate must be a number in [0, 1) (the probability of dropping a unit), got {rate!r}"
        )
    return float(rate)


class Dropout:
    """Drops each unit with probability `rate` in training; see the module docstring for `scaling`.

    Masks come from `rng` (a `numpy.random.Generator`, or a seed for one), so the same seed gives
    the same masks. `noise_shape` (one entry per axis of the input, 1 where a draw is shared)
    drops along the axes of size 1 together: `(N, 1, 1, C)` drops whole feature maps of
    (N, H, W, C) activations, which is spatial dropout. `forward` remembers what `backward` needs:
    the input shape and the factor the input was multiplied by (the mask times the scale in training).
    """

    def __init__(
        self,
        rate: float,
        rng: np.random.Generator | int | None = None,
        scaling: Scaling = "inverted",
        noise_shape: tuple[int, ...] | None = None,
    ) -> None:
        if scaling not in SCALINGS:
            raise ValueError(f"dropout scaling must be one of {SCALINGS}, got {scaling!r}")
        self.rate = check_rate(rate)
        self.scaling = scaling
        self.noise_shape = noise_shape
        self.rng = np.random.default_rng(rng)
        self.mask: np.ndarray | None = None  # the last training mask: True = unit kept
        self._factor: np.ndarray | float | None = None
        self._shape: tuple[int, ...] | None = None

    @property
    def keep_prob(self) -> float:
        """The paper's p: the probability that a unit is kept."""
        return 1.0 - self.rate

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """`x` with units dropped (training) or rescaled (paper form at inference); dtype kept."""
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"dropout needs a floating-point input, got dtype {x.dtype}")
        self._shape = x.shape
        self.mask = None
        self._factor = None  # None = identity
        if self.rate == 0.0:
            return x
        if training:
            draws = self.rng.random(self.noise_shape or x.shape)
            self.mask = np.broadcast_to(draws >= self.rate, x.shape)
            scale = 1.0 / self.keep_prob if self.scaling == "inverted" else 1.0
            self._factor = np.where(self.mask, scale, 0.0).astype(x.dtype)
        elif self.scaling == "paper":
            self._factor = self.keep_prob
        return x if self._factor is None else x * self._factor

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """The gradient w.r.t. the last `forward` input: `grad` times the same factor (mask * scale)."""
        if self._shape is None:
            raise RuntimeError("Dropout.backward called before forward: there is no mask to apply")
        grad = np.asarray(grad)
        if grad.shape != self._shape:
            raise ValueError(
                f"gradient shape {grad.shape} differs from the last forward input shape {self._shape}"
            )
        return grad if self._factor is None else grad * self._factor
