"""Tiny synthetic MNIST in the real file format, for tests that need data without a network.

    md5s = write_synthetic_mnist(folder, n_train=200, n_test=50, seed=0)
    settings = synthetic_settings(folder, md5s, "data.train_size=100")

writes the four canonical `.gz` IDX files into `folder` (28x28 uint8 images, labels 0..9, every
class present, classes of unequal size, learnable: each class is a noisy prototype) and returns the
md5 of each file's DECOMPRESSED content keyed like `data.files` (train_images, train_labels,
test_images, test_labels). Same arguments, same bytes. `synthetic_settings` is the composed
`conf/` config pointed at that folder with those md5s; `synthetic_overrides` gives the same as
Hydra command-line overrides, for running a stage as a subprocess.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from pipeline.core.config import Settings, load_settings
from pipeline.core.params import compose_config

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
# Unequal class shares, so stratification is tested on classes of different sizes.
_CLASS_WEIGHTS = np.arange(1, NUM_CLASSES + 1) + 5.0


@dataclass(frozen=True)
class SyntheticMnist:
    """A folder of synthetic IDX files, their decompressed md5s, and the config that points at it."""

    folder: Path
    md5s: dict[str, str]
    settings: Settings


def idx_bytes(array: np.ndarray) -> bytes:
    """The uncompressed IDX encoding of a uint8 array (header 0000 08 <ndim>, big-endian sizes)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray) -> str:
    """Write `array` as IDX, gzipped (fixed mtime, so reproducible) when `path` ends in `.gz`.

    Returns the md5 of the uncompressed IDX bytes (what `data.files.<key>.md5` holds).
    """
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw, mtime=0) if path.suffix == ".gz" else raw)
    return hashlib.md5(raw, usedforsecurity=False).hexdigest()


def _split(n: int, rng: np.random.Generator, prototypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`n` labelled images: every class at least once, then classes drawn by `_CLASS_WEIGHTS`."""
    extra = rng.choice(NUM_CLASSES, size=max(n - NUM_CLASSES, 0), p=_CLASS_WEIGHTS / _CLASS_WEIGHTS.sum())
    labels = rng.permutation(np.concatenate([np.arange(min(n, NUM_CLASSES)), extra])).astype(np.uint8)
    noise = rng.normal(0.0, 40.0, size=(n, *IMAGE_SHAPE))
    images = np.clip(prototypes[labels] + noise, 0, 255).astype(np.uint8)
    return images, labels


def write_synthetic_mnist(
    folder: Path, n_train: int = 200, n_test: int = 50, seed: int = 0
) -> dict[str, str]:
    """Write the four canonical `.gz` files into `folder`; return {data.files key: decompressed md5}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 255, size=(NUM_CLASSES, *IMAGE_SHAPE))
    x_train, y_train = _split(n_train, rng, prototypes)
    x_test, y_test = _split(n_test, rng, prototypes)
    arrays = {"train_images": x_train, "train_labels": y_train, "test_images": x_test, "test_labels": y_test}
    return {key: write_idx(folder / FILES[key], array) for key, array in arrays.items()}


def synthetic_overrides(folder: Path, md5s: dict[str, str]) -> list[str]:
    """Hydra overrides that make `data.mirrors` the folder alone and `data.files` match its md5s."""
    return [f"data.mirrors=['{folder}']", *(f"data.files.{key}.md5={md5}" for key, md5 in md5s.items())]


def synthetic_settings(folder: Path, md5s: dict[str, str], *overrides: str) -> Settings:
    """The composed, validated `conf/` config for the synthetic files (plus any further overrides)."""
    composed = compose_config([*synthetic_overrides(folder, md5s), *overrides])
    return load_settings(yaml.safe_load(composed))


def downloaded_project(base: Path, synthetic: SyntheticMnist) -> Path:
    """A project root (`base/project`) whose data/raw/mnist holds the synthetic files, as after
    `python -m pipeline.download`; stages run with DROPOUT_LAB_ROOT pointing at it."""
    raw = base / "project" / "data" / "raw" / "mnist"
    raw.mkdir(parents=True)
    for item in synthetic.folder.iterdir():
        (raw / item.name).write_bytes(item.read_bytes())
    return base / "project"
