"""Forward passes for evaluation: the deterministic front of the model once, the rest compiled.

Everything before the first dropout layer (in the MLP the first Dense layer, some 90% of the
arithmetic; in the CNN its convolutions up to the first dropout) gives the same output in every
Monte-Carlo pass. `BatchedForward`
computes it once per batch and runs only the rest of the model per pass, as a compiled TensorFlow
function. The masks still come from the dropout layers' own seed generators, drawn in the same order
(pass by pass, batch by batch, same batch shapes), so the probabilities equal those of calling the
whole model eagerly on each batch, bit for bit (tests/evaluation/test_inference.py checks it).
The uint8 pixels are scaled batch by batch, eagerly (`pipeline.model.pixels`: inside a compiled function,
TensorFlow's graph optimizer would turn the division into a multiplication): before the front, or,
when there is no deterministic front (dropout on the inputs), in each pass before the compiled rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.model.pixels import check_pixels, to_unit

if TYPE_CHECKING:
    import keras

# Layers whose output does not depend on the training flag nor draw random numbers.
_DETERMINISTIC = ("Dense", "Reshape", "Flatten", "Conv2D", "MaxPooling2D", "AveragePooling2D", "Activation")


def chain_layers(model: keras.Model) -> list[Any] | None:
    """The model's layers (input layer aside) in call order when it is a plain chain: one input,
    each layer called once, on the output of the one before; None for any other graph."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return None
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    tensor = model.inputs[0]
    for layer in layers:
        if len(getattr(layer, "_inbound_nodes", ())) != 1 or layer.input is not tensor:
            return None
        tensor = layer.output
    return layers if tensor is model.outputs[0] else None


class BatchedForward:
    """Class probabilities of uint8 images `x` in fixed batches, in inference mode or with dropout
    on (one MC pass).

    The deterministic front is computed once at construction; each call runs the rest compiled.
    A model that is not a plain chain runs whole (compiled) in every pass. What is kept between
    passes is the front's output, or the uint8 batches themselves: never a float32 copy of `x`.
    """

    def __init__(self, model: keras.Model, x: np.ndarray, batch_size: int) -> None:
        import tensorflow as tf

        check_pixels(x, "the images to predict")
        layers = chain_layers(model)
        if layers is None:
            front: list[Any] = []
            self._rest: list[Any] = [model]
        else:
            split = next(
                (i for i, layer in enumerate(layers) if type(layer).__name__ not in _DETERMINISTIC),
                len(layers),
            )
            front, self._rest = layers[:split], layers[split:]
        starts = range(0, len(x), batch_size)
        pixels = (tf.convert_to_tensor(x[start : start + batch_size]) for start in starts)
        # With a front, its float32 output is kept; without one, the uint8 pixels, scaled in each pass.
        self._scale = _unchanged if front else to_unit
        self._batches = [_through(front, to_unit(b), False) for b in pixels] if front else list(pixels)
        first = self._batches[0] if self._batches else tf.zeros([0, 0])
        spec = [tf.TensorSpec([None, *first.shape[1:]], tf.float32)]
        self._compiled = {flag: self._compile(flag, spec) for flag in (False, True)}

    def _compile(self, training: bool, spec: list[Any]) -> Any:
        import tensorflow as tf

        def rest(h: Any) -> Any:
            return _through(self._rest, h, training)

        return tf.function(rest, input_signature=spec, autograph=False)

    def __call__(self, training: bool = False) -> np.ndarray:
        """One pass over every batch, as float64 probabilities (N, classes)."""
        run = self._compiled[training]
        return np.concatenate([run(self._scale(batch)).numpy() for batch in self._batches]).astype(np.float64)


def _unchanged(h: Any) -> Any:
    return h


def _through(layers: list[Any], h: Any, training: bool) -> Any:
    for layer in layers:
        h = layer(h, training=training)
    return h
