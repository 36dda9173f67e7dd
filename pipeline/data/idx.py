"""A strict reader of IDX files (the MNIST format), gzipped or plain.

Strict, because a wrong file that happens to parse (a labels file read as images, a truncated
download) would otherwise become a silently wrong data set: every header field is checked, and the
payload must be exactly as long as the header says.
"""

from __future__ import annotations

import gzip
import zlib
from math import prod
from pathlib import Path

import numpy as np

from pipeline.core.errors import UserError

GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08
# Type codes of the IDX format; only unsigned bytes are read (all that MNIST-like sets use).
_TYPE_NAMES = {0x08: "ubyte", 0x09: "sbyte", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}


class IdxFormatError(UserError):
    """A file is not the IDX array it should be (bad header, wrong shape, truncated, not gzip)."""


def read_idx(path: Path | str, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (`.gz` or plain, told apart by content); `ndim` is the rank it must have."""
    path = Path(path)
    raw = path.read_bytes()
    if raw.startswith(GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise IdxFormatError(f"{path}: broken gzip stream ({exc or 'truncated'})") from None
    return parse_idx(raw, source=str(path), ndim=ndim)


def parse_idx(raw: bytes, source: str, ndim: int | None = None) -> np.ndarray:
    """Decode uncompressed IDX bytes; `source` names the file in error messages."""
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise IdxFormatError(
            f"{source}: not an IDX file (the first bytes are {raw[:4].hex() or 'missing'}, "
            "expected 0000 08 NN: two zero bytes, a type code, a number of dimensions)"
        )
    type_code, rank = raw[2], raw[3]
    if type_code != _UBYTE:
        name = _TYPE_NAMES.get(type_code, "unknown")
        raise IdxFormatError(
            f"{source}: IDX type code 0x{type_code:02x} ({name}) is not supported; expected 0x08 (ubyte)"
        )
    if ndim is not None and rank != ndim:
        raise IdxFormatError(
            f"{source}: expected {ndim} dimension(s) ({_kind(ndim)}), got {rank}: is it a {_kind(rank)} file?"
        )
    return _payload(raw, rank, source)


def _payload(raw: bytes, rank: int, source: str) -> np.ndarray:
    header = 4 + 4 * rank
    if len(raw) < header:
        raise IdxFormatError(f"{source}: truncated header ({len(raw)} bytes, {rank} dims need {header})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    expected = prod(shape)
    actual = len(raw) - header
    if actual != expected:
        state = "truncated" if actual < expected else "has trailing bytes"
        raise IdxFormatError(
            f"{source}: {state}: the header says shape {shape} = {expected} bytes of data, found {actual}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _kind(ndim: int) -> str:
    return {1: "labels", 3: "images"}.get(ndim, f"{ndim}-d")
