"""The IDX reader accepts exactly the arrays it should and names the file and the problem otherwise."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from pipeline.data.idx import IdxFormatError, read_idx
from tests.helpers.synthetic import idx_bytes, write_idx

IMAGES = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
LABELS = np.array([7, 0, 9], dtype=np.uint8)


@pytest.mark.parametrize("name", ["images.idx.gz", "images.idx"])
def test_reads_gzipped_and_plain_files(tmp_path: Path, name: str):
    write_idx(tmp_path / name, IMAGES)
    array = read_idx(tmp_path / name, ndim=3)
    assert array.dtype == np.uint8
    np.testing.assert_array_equal(array, IMAGES)


def test_reads_labels(tmp_path: Path):
    write_idx(tmp_path / "labels.gz", LABELS)
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.gz", ndim=1), LABELS)


def _error(path: Path, content: bytes, ndim: int | None = 3) -> str:
    path.write_bytes(content)
    with pytest.raises(IdxFormatError) as caught:
        read_idx(path, ndim=ndim)
    assert str(path) in str(caught.value)
    return str(caught.value)


def test_truncated_payload(tmp_path: Path):
    message = _error(tmp_path / "short.idx", idx_bytes(IMAGES)[:-10])
    assert "truncated" in message and "(3, 28, 28)" in message and "2342" in message


def test_trailing_bytes(tmp_path: Path):
    assert "trailing bytes" in _error(tmp_path / "long.idx", idx_bytes(IMAGES) + b"\x00")


def test_truncated_header(tmp_path: Path):
    assert "truncated header" in _error(tmp_path / "head.idx", idx_bytes(IMAGES)[:9])


def test_truncated_gzip_stream(tmp_path: Path):
    packed = gzip.compress(idx_bytes(IMAGES))
    assert "broken gzip stream" in _error(tmp_path / "cut.gz", packed[: len(packed) // 2])


def test_labels_passed_as_images(tmp_path: Path):
    message = _error(tmp_path / "labels.gz", gzip.compress(idx_bytes(LABELS)))
    assert "expected 3 dimension(s) (images), got 1" in message and "labels file" in message


def test_wrong_magic(tmp_path: Path):
    message = _error(tmp_path / "magic.idx", b"\x01\x02" + idx_bytes(IMAGES)[2:])
    assert "not an IDX file" in message and "0102" in message


def test_unsupported_type_code(tmp_path: Path):
    floats = bytearray(idx_bytes(IMAGES))
    floats[2] = 0x0D
    message = _error(tmp_path / "float.idx", bytes(floats))
    assert "0x0d (float32) is not supported" in message and "0x08" in message


@pytest.mark.parametrize("content", [b"", b"\x00", b"<html>404 Not Found</html>", bytes(range(256)) * 4])
def test_garbage(tmp_path: Path, content: bytes):
    assert "not an IDX file" in _error(tmp_path / "garbage", content, ndim=None)
