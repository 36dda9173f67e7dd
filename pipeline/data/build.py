"""The arrays a data config asks for, built from the raw IDX files (the `preprocess` stage: seeded
class-stratified splits, the same bytes for the same config) or found in the file that stage wrote.
No TensorFlow here: this stage must start fast.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.atomic import atomic_path, write_json_atomic
from pipeline.core.config import DataConfig, DataFiles
from pipeline.data.aligned import empty_aligned
from pipeline.data.idx import read_idx
from pipeline.data.processed import FINGERPRINT_KEY, DataError, ProcessedData, fingerprint, load_processed

log = logging.getLogger(__name__)

NUM_CLASSES = 10
# A fixed zip entry date (np.savez stamps the current time), so the same arrays give the same file.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# Separate random streams, so the validation split never depends on data.train_size.
_SPLIT_STREAM, _SUBSET_STREAM = 0, 1


@dataclass(frozen=True)
class RawData:
    """The four IDX arrays as published: images (N, rows, cols) uint8, labels (N,) uint8."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def read_raw(folder: Path, files: DataFiles) -> RawData:
    """Read and cross-check the four downloaded files (counts match, labels in 0..9)."""
    missing = [item.file for _, item in files if not (folder / item.file).is_file()]
    if missing:
        raise DataError(
            f"{folder} lacks {', '.join(missing)}: fetch the files with `python -m pipeline.download` "
            "(or `dvc repro download`)"
        )
    raw = RawData(
        x_train=read_idx(folder / files.train_images.file, ndim=3),
        y_train=read_idx(folder / files.train_labels.file, ndim=1),
        x_test=read_idx(folder / files.test_images.file, ndim=3),
        y_test=read_idx(folder / files.test_labels.file, ndim=1),
    )
    _check_pair(raw.x_train, raw.y_train, files.train_images.file, files.train_labels.file)
    _check_pair(raw.x_test, raw.y_test, files.test_images.file, files.test_labels.file)
    return raw


def _check_pair(images: np.ndarray, labels: np.ndarray, images_file: str, labels_file: str) -> None:
    if images.shape[1] != images.shape[2]:
        raise DataError(
            f"{images_file} holds {images.shape[1]}x{images.shape[2]} images; the processed data "
            "stores square images as rows"
        )
    if len(images) != len(labels):
        raise DataError(f"{images_file} has {len(images)} images but {labels_file} has {len(labels)} labels")
    if len(labels) and labels.max() >= NUM_CLASSES:
        raise DataError(f"{labels_file} has label {labels.max()}; expected 0..{NUM_CLASSES - 1}")


def split_stratified(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices (kept, held_out): round(fraction * N) held out, each class within 1 of its share."""
    rng = np.random.default_rng([_SPLIT_STREAM, seed])
    held_out = _pick_stratified(labels, round(fraction * len(labels)), rng)
    return np.setdiff1d(np.arange(len(labels)), held_out, assume_unique=True), held_out


def subset_stratified(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of `size` labels, each class within 1 of its share (the small-data regime)."""
    return _pick_stratified(labels, size, np.random.default_rng([_SUBSET_STREAM, seed]))


def _pick_stratified(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    classes, counts = np.unique(labels, return_counts=True)
    quotas = apportion(counts, size)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quotas, strict=True)]
    return np.sort(np.concatenate([np.empty(0, dtype=np.intp), *picked]))


def apportion(counts: np.ndarray, size: int) -> np.ndarray:
    """Split `size` over classes in proportion to `counts` (largest remainder; ties to the lower class)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if not 0 <= size <= total:
        raise ValueError(f"cannot pick {size} of {total}")
    quotas, remainders = np.divmod(counts * size, max(total, 1))
    short = size - int(quotas.sum())
    quotas[np.argsort(-remainders, kind="stable")[:short]] += 1
    return quotas


def build_dataset(raw: RawData, cfg: DataConfig) -> ProcessedData:
    """Split, subset and flatten the raw arrays as `cfg` says; the test set is kept whole."""
    train_idx, val_idx = split_stratified(raw.y_train, cfg.val_fraction, cfg.seed)
    if not len(train_idx) or not len(val_idx):
        raise DataError(
            f"data.val_fraction = {cfg.val_fraction} of {len(raw.y_train)} training images leaves "
            f"{len(train_idx)} for training and {len(val_idx)} for validation; both need at least one"
        )
    if cfg.train_size is not None:
        train_idx = train_idx[_subset_of(raw.y_train[train_idx], cfg)]
    arrays = {
        "x_train": _pixels(raw.x_train[train_idx]),
        "y_train": _labels(raw.y_train[train_idx]),
        "x_val": _pixels(raw.x_train[val_idx]),
        "y_val": _labels(raw.y_train[val_idx]),
        "x_test": _pixels(raw.x_test),
        "y_test": _labels(raw.y_test),
    }
    return ProcessedData(**arrays, fingerprint=fingerprint(arrays), name=cfg.name)


def _subset_of(labels: np.ndarray, cfg: DataConfig) -> np.ndarray:
    assert cfg.train_size is not None
    if cfg.train_size > len(labels):
        raise DataError(
            f"data.train_size = {cfg.train_size} is more than the {len(labels)} training images left after "
            f"the validation split (data.val_fraction = {cfg.val_fraction}); use at most {len(labels)}, "
            "or null for all"
        )
    return subset_stratified(labels, cfg.train_size, cfg.seed)


def _pixels(images: np.ndarray) -> np.ndarray:
    """uint8 images to flat uint8 rows (square, so `ProcessedData.image_shape` folds them back);
    scaling to [0, 1] waits for the batch."""
    return np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.uint8)


def _labels(labels: np.ndarray) -> np.ndarray:
    return labels.astype(np.int64)


def write_npz(target: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Like `np.savez` (uncompressed, for speed), but byte-for-byte reproducible, and atomic."""
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            entry.external_attr = 0o644 << 16
            with archive.open(entry, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)


def summary(data: ProcessedData, cfg: DataConfig) -> dict[str, Any]:
    """The small JSON beside the npz: what was made, from which settings, and how many of each class."""
    splits = {"train": data.y_train, "val": data.y_val, "test": data.y_test}
    return {
        "name": data.name,
        "fingerprint": data.fingerprint,
        "val_fraction": cfg.val_fraction,
        "train_size": cfg.train_size,
        "seed": cfg.seed,
        "counts": {split: len(labels) for split, labels in splits.items()},
        "class_counts": {
            split: np.bincount(labels, minlength=NUM_CLASSES).tolist() for split, labels in splits.items()
        },
    }


def write_processed(data: ProcessedData, cfg: DataConfig, folder: Path) -> Path:
    """Write `<name>.npz` and `<name>.json` into `folder`; return the npz path."""
    target = folder / f"{data.name}.npz"
    write_npz(target, {**data.arrays(), FINGERPRINT_KEY: np.array(data.fingerprint)})
    write_json_atomic(target.with_suffix(".json"), summary(data, cfg))
    return target


RECIPE_KEYS = ("name", "val_fraction", "train_size", "seed")


def load_for(cfg: DataConfig, root: Path) -> ProcessedData:
    """The processed data a run's config asks for.

    DVC's file when it was made with these data settings; otherwise (an interactive run or sweep
    over `data.train_size`, say) the same arrays built in memory from the raw files, leaving the
    file DVC owns alone. Never a silent mismatch between the config a run logs and its data.
    """
    data = _load_split(cfg, root)
    return with_val_in_training(data) if cfg.train_on_val else data


def _load_split(cfg: DataConfig, root: Path) -> ProcessedData:
    path = root / "data" / "processed" / f"{cfg.name}.npz"
    wanted = {key: getattr(cfg, key) for key in RECIPE_KEYS}
    summary_file = path.with_suffix(".json")
    if path.is_file() and summary_file.is_file():
        made = json.loads(summary_file.read_text())
        if {key: made.get(key) for key in RECIPE_KEYS} == wanted:
            return load_processed(path)
    raw_dir = root / "data" / "raw" / cfg.name
    if not raw_dir.is_dir():
        if path.is_file():
            raise DataError(
                f"{path} was made with other data settings than {wanted}, and {raw_dir} is missing "
                "to build them: fetch it with `python -m pipeline.download`"
            )
        return load_processed(path)  # raises, saying which command makes it
    log.info("building %s in memory for %s: %s was not made with these settings", cfg.name, wanted, path)
    return build_dataset(read_raw(raw_dir, cfg.files), cfg)


def _joined(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """`first` then `second` in one aligned array (so training still shares its memory)."""
    out = empty_aligned((len(first) + len(second), *first.shape[1:]), first.dtype)
    return np.concatenate([first, second], out=out)


def with_val_in_training(data: ProcessedData) -> ProcessedData:
    """The final fit's data (`data.train_on_val`): training images followed by the validation ones.

    The validation split stays as it is, so the per-epoch curves still exist, but they now score
    images the net trains on: choose nothing on them. A fingerprint of its own, so a checkpoint or
    run of the final fit is never taken for one of the split it came from.
    """
    arrays = data.arrays() | {
        "x_train": _joined(data.x_train, data.x_val),
        "y_train": _joined(data.y_train, data.y_val),
    }
    return ProcessedData(**arrays, fingerprint=fingerprint(arrays), name=data.name)
