"""Arrays whose memory TensorFlow can share: 64-byte aligned, read straight from an `.npz`.

Given NumPy arrays, Keras' `fit` converts them to tensors, and the conversion keeps about twice
the array's size (`bench/timeline.py` shows it in the process's RSS). A tensor made with DLPack from
a 64-byte aligned, C-contiguous array shares the array's memory instead (`pipeline.training.loop`). NumPy
aligns its buffers to 16 bytes only, so `read_npy_aligned` reads an `.npy` member of an `.npz`
straight into an aligned buffer (no second copy on the way either). No TensorFlow here.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np

ALIGNMENT = 64  # bytes; what TensorFlow requires of a buffer it shares (Eigen's alignment)


def empty_aligned(shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an ALIGNMENT-byte boundary."""
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = np.empty(size + ALIGNMENT, dtype=np.uint8)
    offset = -buffer.ctypes.data % ALIGNMENT
    return buffer[offset : offset + size].view(dtype).reshape(shape)


def read_npy_aligned(archive: zipfile.ZipFile, name: str) -> np.ndarray | None:
    """Member `<name>.npy` of an open `.npz` read into an aligned array; None when the member is not
    a plain C-ordered array of numbers (then `np.load` reads it as usual)."""
    with archive.open(f"{name}.npy") as member:
        version = np.lib.format.read_magic(member)
        read_header = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }
        if version not in read_header:
            return None
        shape, fortran_order, dtype = read_header[version](member)
        if fortran_order or dtype.hasobject or not dtype.isnative:
            return None
        array = empty_aligned(shape, dtype)
        view = array.reshape(-1).view(np.uint8).data
        assert isinstance(member, io.BufferedIOBase)  # a ZipExtFile: it reads into a buffer
        filled = 0
        while filled < len(view):
            count = member.readinto(view[filled:])
            if not count:
                raise ValueError(f"{name}.npy is truncated ({filled} of {len(view)} bytes)")
            filled += count
    return array
