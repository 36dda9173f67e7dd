"""What the model reads: the stored uint8 pixels as float32 in [0, 1], made one batch at a time.

The processed data holds pixels as uint8 (0..255), a quarter of float32's memory; every TensorFlow
pipeline that feeds the model (training batches, validation, evaluation, MC passes) scales each
batch with `to_unit`, so no float32 copy of a whole split exists. `to_unit` is TensorFlow's float32
division of the cast pixels by 255: the same IEEE operation as NumPy's
`x.astype(np.float32) / np.float32(255)`, so each value is bit for bit what a float32 array scaled in
NumPy holds (tests/model/test_pixels.py checks all 256 values).

Call it eagerly or in a `tf.data` function, never inside a `tf.function`: there TensorFlow's graph
optimizer (constant folding) rewrites a division by a constant into a multiplication by 1/255,
which rounds 126 of the 256 values differently.
"""

from __future__ import annotations

from typing import Any

PIXEL_DTYPE = "uint8"
PIXEL_MAX = 255


def check_pixels(x: Any, what: str = "x") -> None:
    """Fail loudly on anything but uint8 pixels: a float array here would be scaled a second time."""
    dtype = getattr(x, "dtype", None)
    name = getattr(dtype, "name", type(x).__name__)  # NumPy and TensorFlow dtypes both have a name
    if name != PIXEL_DTYPE:
        raise TypeError(f"{what} must hold {PIXEL_DTYPE} pixels (0..{PIXEL_MAX}), not {name}")


def to_unit(pixels: Any) -> Any:
    """A batch of uint8 pixels (a tensor) as float32 in [0, 1]: cast, then divide by 255."""
    import tensorflow as tf

    return tf.cast(pixels, tf.float32) / tf.constant(PIXEL_MAX, tf.float32)
