"""The data contract every layer reads: the processed arrays (uint8 pixel rows and int64 labels of
the train, validation and test splits), their fingerprint, and reading the npz back (checked whole).
No TensorFlow here: every stage reads this, and it must be cheap to import.
"""

from __future__ import annotations

import hashlib
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core.errors import UserError
from pipeline.data.aligned import read_npy_aligned

ARRAY_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
IMAGE_KEYS = ("x_train", "x_val", "x_test")
FINGERPRINT_KEY = "fingerprint"
MAKE_IT = "make it with `dvc repro preprocess` or `python -m pipeline.preprocess` (after pipeline.download)"


class DataError(UserError):
    """The data is missing, inconsistent, or cannot be split as configured."""


@dataclass(frozen=True, eq=False)
class ProcessedData:
    """What training and evaluation read: x (N, pixels) uint8 rows of square images (784 = 28 x 28
    for MNIST), 0..255, y (N,) int64 in 0..9. Models take the rows as they are (`image_shape` says
    how to fold them back into images).

    The model sees x / 255 as float32, scaled per batch (`pipeline.model.pixels.to_unit`)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    fingerprint: str
    name: str

    def arrays(self) -> dict[str, np.ndarray]:
        return {key: getattr(self, key) for key in ARRAY_KEYS}

    @property
    def image_shape(self) -> tuple[int, int]:
        """(rows, columns) of the images: the rows hold square images (`pipeline.data.build` refuses
        others), so the side is the square root of a row's length."""
        return image_shape(self.x_train.shape[1])


def image_shape(row_length: int) -> tuple[int, int]:
    side = math.isqrt(row_length)
    if side * side != row_length:
        raise DataError(f"image rows of {row_length} pixels are not square images")
    return side, side


def fingerprint(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 over each array's name, dtype, shape and bytes (in name order): the data's identity."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}\n".encode())
        digest.update(array.data)
    return digest.hexdigest()


def load_processed(path: Path | str) -> ProcessedData:
    """Read what the preprocess stage wrote; a missing, unreadable or altered file is a `DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist: {MAKE_IT}")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path} is not an .npz (zip) file: {MAKE_IT}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in (*ARRAY_KEYS, FINGERPRINT_KEY) if key not in npz.files]
            if missing:
                raise DataError(f"{path} lacks {', '.join(missing)}: {MAKE_IT}")
            # Aligned, so training shares their memory instead of copying them (pipeline.data.aligned).
            aligned = {key: read_npy_aligned(npz.zip, key) for key in ARRAY_KEYS}
            arrays = {key: npz[key] if array is None else array for key, array in aligned.items()}
            stored = str(npz[FINGERPRINT_KEY].item())
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a readable .npz ({exc}): {MAKE_IT}") from None
    _check_pixel_arrays(path, arrays)
    if fingerprint(arrays) != stored:
        raise DataError(f"{path} changed after it was written (its fingerprint does not match): {MAKE_IT}")
    return ProcessedData(**arrays, fingerprint=stored, name=path.stem)


def _check_pixel_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Images must be uint8 rows; a float32 file (pixels in [0, 1]) must be remade."""
    for key in IMAGE_KEYS:
        x = arrays[key]
        if x.dtype != np.uint8 or x.ndim != 2:
            raise DataError(
                f"{path} holds {key} as {x.dtype} {x.shape}, not uint8 pixel rows (files of earlier "
                f"versions held float32 in [0, 1]): remake it with `dvc repro preprocess` or "
                "`python -m pipeline.preprocess`"
            )
