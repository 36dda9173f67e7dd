"""Preprocess: stratified split and subset, scaling, byte-for-byte output, fingerprint, loader."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.config import DataConfig
from pipeline.data.build import (
    RawData,
    apportion,
    build_dataset,
    load_for,
    read_raw,
    split_stratified,
    subset_stratified,
    write_npz,
    write_processed,
)
from pipeline.data.processed import ARRAY_KEYS, DataError, ProcessedData, fingerprint, load_processed
from tests.helpers.synthetic import FILES, SyntheticMnist, write_idx

# 1000 shuffled labels of unequal classes: class c has 91 + 2c items.
LABELS = np.random.default_rng(7).permutation(np.repeat(np.arange(10), np.arange(10) * 2 + 91))


def _within_one_per_class(labels: np.ndarray, picked: np.ndarray, fraction: float) -> None:
    share = np.bincount(labels, minlength=10) * fraction
    assert np.all(np.abs(np.bincount(labels[picked], minlength=10) - share) < 1), "not stratified"


@pytest.fixture
def raw(synthetic_mnist: SyntheticMnist) -> RawData:
    return read_raw(synthetic_mnist.folder, synthetic_mnist.settings.data.files)


@pytest.fixture
def data_cfg(synthetic_mnist: SyntheticMnist) -> DataConfig:
    return synthetic_mnist.settings.data


def test_apportion_is_exact_and_proportional():
    counts = np.array([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])  # MNIST train
    quotas = apportion(counts, 12_000)
    assert quotas.sum() == 12_000
    assert np.all(np.abs(quotas - counts * 0.2) < 1)
    assert apportion(np.array([1, 1, 1]), 2).tolist() == [1, 1, 0], "ties go to the lower class"
    assert apportion(np.array([3, 4]), 0).tolist() == [0, 0]


@pytest.mark.parametrize("fraction", [0.2, 0.1, 0.5, 0.77])
def test_split_is_stratified_disjoint_and_complete(fraction: float):
    kept, held_out = split_stratified(LABELS, fraction, seed=0)
    assert len(held_out) == round(fraction * len(LABELS))
    assert np.array_equal(np.sort(np.concatenate([kept, held_out])), np.arange(len(LABELS)))
    _within_one_per_class(LABELS, held_out, fraction)
    _within_one_per_class(LABELS, kept, 1 - fraction)


def test_split_and_subset_are_seeded():
    kept, held_out = split_stratified(LABELS, 0.2, seed=3)
    again = split_stratified(LABELS, 0.2, seed=3)
    assert np.array_equal(kept, again[0]) and np.array_equal(held_out, again[1])
    assert not np.array_equal(held_out, split_stratified(LABELS, 0.2, seed=4)[1])
    assert np.array_equal(subset_stratified(LABELS, 100, 3), subset_stratified(LABELS, 100, 3))
    assert not np.array_equal(subset_stratified(LABELS, 100, 3), subset_stratified(LABELS, 100, 4))


@pytest.mark.parametrize("size", [1, 10, 137, 1000])
def test_subset_has_the_size_and_the_class_shares(size: int):
    picked = subset_stratified(LABELS, size, seed=0)
    assert len(picked) == len(np.unique(picked)) == size
    _within_one_per_class(LABELS, picked, size / len(LABELS))


def test_build_dataset_shapes_types_and_ranges(raw: RawData, data_cfg: DataConfig):
    data = build_dataset(raw, data_cfg)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (160, 40, 50)
    for x, y in [(data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test)]:
        assert x.dtype == np.uint8 and x.shape == (len(y), 784) and x.flags.c_contiguous
        assert y.dtype == np.int64 and set(np.unique(y)) <= set(range(10))
    assert data.x_train.max() == 255 and data.x_train.min() == 0
    np.testing.assert_array_equal(data.y_test, raw.y_test)
    np.testing.assert_array_equal(data.x_test, raw.x_test.reshape(50, 784))
    val_share = np.bincount(raw.y_train, minlength=10) * data_cfg.val_fraction
    assert np.all(np.abs(np.bincount(data.y_val, minlength=10) - val_share) < 1)
    assert data.name == data_cfg.name and data.fingerprint == fingerprint(data.arrays())


def test_train_size_takes_a_stratified_subset_and_keeps_the_validation_set(
    raw: RawData, data_cfg: DataConfig
):
    full = build_dataset(raw, data_cfg)
    small = build_dataset(raw, data_cfg.model_copy(update={"train_size": 50}))
    assert len(small.y_train) == 50
    np.testing.assert_array_equal(small.x_val, full.x_val)
    np.testing.assert_array_equal(small.x_test, full.x_test)
    share = np.bincount(full.y_train, minlength=10) * 50 / len(full.y_train)
    assert np.all(np.abs(np.bincount(small.y_train, minlength=10) - share) < 1)
    rows = {row.tobytes() for row in full.x_train}
    assert all(row.tobytes() in rows for row in small.x_train), "subset not drawn from the training part"
    assert small.fingerprint != full.fingerprint


def test_train_size_larger_than_available_is_an_error(raw: RawData, data_cfg: DataConfig):
    with pytest.raises(DataError, match=r"data.train_size = 161 is more than the 160 training images"):
        build_dataset(raw, data_cfg.model_copy(update={"train_size": 161}))
    assert len(build_dataset(raw, data_cfg.model_copy(update={"train_size": 160})).y_train) == 160


def test_a_split_that_leaves_nothing_is_an_error(data_cfg: DataConfig):
    one_image, one_label = np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.uint8)
    tiny = RawData(x_train=one_image, y_train=one_label, x_test=one_image, y_test=one_label)
    with pytest.raises(DataError, match=r"data\.val_fraction"):
        build_dataset(tiny, data_cfg)


def _write(raw: RawData, cfg: DataConfig, folder: Path) -> Path:
    return write_processed(build_dataset(raw, cfg), cfg, folder)


def test_same_config_same_bytes_other_seed_other_bytes(raw: RawData, data_cfg: DataConfig, tmp_path: Path):
    first = _write(raw, data_cfg, tmp_path / "a").read_bytes()
    assert _write(raw, data_cfg, tmp_path / "b").read_bytes() == first
    other = _write(raw, data_cfg.model_copy(update={"seed": 1}), tmp_path / "c").read_bytes()
    assert other != first
    with zipfile.ZipFile(tmp_path / "a" / f"{data_cfg.name}.npz") as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


def test_fingerprint_follows_content_dtype_and_shape():
    arrays = {"x": np.zeros((2, 3), np.float32), "y": np.arange(2)}
    base = fingerprint(arrays)
    assert fingerprint(dict(arrays)) == base
    changed = arrays["x"].copy()
    changed[1, 2] = 0.5
    assert fingerprint({**arrays, "x": changed}) != base
    assert fingerprint({**arrays, "x": arrays["x"].reshape(3, 2)}) != base
    assert fingerprint({**arrays, "y": arrays["y"].astype(np.int32)}) != base
    assert fingerprint({"a": arrays["x"], "y": arrays["y"]}) != base


def test_fingerprint_changes_when_the_raw_data_does(
    synthetic_mnist: SyntheticMnist, raw: RawData, data_cfg: DataConfig
):
    images = raw.x_train.copy()
    images[0, 0, 0] ^= 1
    write_idx(synthetic_mnist.folder / FILES["train_images"], images)
    changed = read_raw(synthetic_mnist.folder, data_cfg.files)
    assert build_dataset(changed, data_cfg).fingerprint != build_dataset(raw, data_cfg).fingerprint


def test_load_processed_round_trip_and_summary(raw: RawData, data_cfg: DataConfig, tmp_path: Path):
    data = build_dataset(raw, data_cfg)
    target = write_processed(data, data_cfg, tmp_path)
    loaded = load_processed(target)
    assert isinstance(loaded, ProcessedData)
    assert (loaded.name, loaded.fingerprint) == (data_cfg.name, data.fingerprint)
    for key in ARRAY_KEYS:
        np.testing.assert_array_equal(getattr(loaded, key), getattr(data, key))
        assert getattr(loaded, key).dtype == getattr(data, key).dtype
    summary = json.loads(target.with_suffix(".json").read_text())
    assert summary["fingerprint"] == data.fingerprint
    assert summary["counts"] == {"train": 160, "val": 40, "test": 50}
    assert summary["class_counts"]["val"] == np.bincount(data.y_val, minlength=10).tolist()
    assert (summary["val_fraction"], summary["train_size"], summary["seed"]) == (0.2, None, 0)


def test_load_processed_names_the_command_that_makes_a_missing_file(tmp_path: Path):
    with pytest.raises(
        DataError, match=r"does not exist: .*dvc repro preprocess.*python -m pipeline.preprocess"
    ):
        load_processed(tmp_path / "mnist.npz")


def test_load_processed_refuses_an_altered_or_foreign_file(
    raw: RawData, data_cfg: DataConfig, tmp_path: Path
):
    data = build_dataset(raw, data_cfg)
    target = write_processed(data, data_cfg, tmp_path)
    content = bytearray(target.read_bytes())
    content[len(content) // 2] ^= 0xFF  # one byte inside the pixel data: the zip CRC catches it
    target.write_bytes(bytes(content))
    with pytest.raises(DataError, match=r"not a readable \.npz \(Bad CRC-32"):
        load_processed(target)
    edited = {
        **data.arrays(),
        "y_train": data.y_train[::-1].copy(),
        "fingerprint": np.array(data.fingerprint),
    }
    write_npz(target, edited)  # a well-formed file whose arrays no longer match their fingerprint
    with pytest.raises(DataError, match="fingerprint does not match"):
        load_processed(target)
    older = {**data.arrays(), "x_val": data.x_val.astype(np.float32) / np.float32(255)}
    write_npz(target, {**older, "fingerprint": np.array(fingerprint(older))})  # as earlier versions wrote
    older_message = re.escape(f"{target} holds x_val as float32") + ".*dvc repro preprocess"
    with pytest.raises(DataError, match=older_message):
        load_processed(target)
    np.savez(target, x_train=np.zeros(3))
    with pytest.raises(DataError, match="lacks y_train"):
        load_processed(target)
    target.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"is not an \.npz \(zip\) file"):
        load_processed(target)


def test_read_raw_points_at_the_download_stage(synthetic_mnist: SyntheticMnist, data_cfg: DataConfig):
    (synthetic_mnist.folder / FILES["test_labels"]).unlink()
    with pytest.raises(DataError, match=r"lacks t10k-labels-idx1-ubyte.gz: .*python -m pipeline.download"):
        read_raw(synthetic_mnist.folder, data_cfg.files)


def test_read_raw_checks_counts_and_label_range(synthetic_mnist: SyntheticMnist, data_cfg: DataConfig):
    labels = synthetic_mnist.folder / FILES["test_labels"]
    write_idx(labels, np.zeros(49, np.uint8))
    with pytest.raises(DataError, match=r"has 50 images but t10k-labels-idx1-ubyte\.gz has 49 labels"):
        read_raw(synthetic_mnist.folder, data_cfg.files)
    write_idx(labels, np.full(50, 10, np.uint8))
    with pytest.raises(DataError, match=r"has label 10; expected 0\.\.9"):
        read_raw(synthetic_mnist.folder, data_cfg.files)


def _project_with_processed(root: Path, synthetic_mnist: SyntheticMnist, data_cfg: DataConfig) -> Path:
    """A project root as DVC leaves it: raw files and the processed file of `data_cfg`."""
    raw_dir = root / "data" / "raw" / data_cfg.name
    raw_dir.mkdir(parents=True)
    for item in synthetic_mnist.folder.iterdir():
        (raw_dir / item.name).write_bytes(item.read_bytes())
    raw = read_raw(raw_dir, data_cfg.files)
    return write_processed(build_dataset(raw, data_cfg), data_cfg, root / "data" / "processed")


def test_load_for_takes_the_file_made_with_the_same_settings(
    synthetic_mnist: SyntheticMnist, data_cfg: DataConfig, tmp_path: Path
):
    path = _project_with_processed(tmp_path, synthetic_mnist, data_cfg)
    (tmp_path / "data" / "raw").rename(tmp_path / "gone")  # proves the file, not the raw data, is used
    assert load_for(data_cfg, tmp_path).fingerprint == load_processed(path).fingerprint


def test_load_for_builds_other_settings_in_memory_and_leaves_the_file_alone(
    synthetic_mnist: SyntheticMnist, data_cfg: DataConfig, tmp_path: Path
):
    path = _project_with_processed(tmp_path, synthetic_mnist, data_cfg)
    before = path.read_bytes()
    smaller = data_cfg.model_copy(update={"train_size": 50})
    data = load_for(smaller, tmp_path)
    assert len(data.y_train) == 50
    assert data.fingerprint != load_processed(path).fingerprint
    assert path.read_bytes() == before


def test_load_for_refuses_a_mismatched_file_it_cannot_rebuild(
    synthetic_mnist: SyntheticMnist, data_cfg: DataConfig, tmp_path: Path
):
    _project_with_processed(tmp_path, synthetic_mnist, data_cfg)
    (tmp_path / "data" / "raw").rename(tmp_path / "gone")
    with pytest.raises(DataError, match="other data settings"):
        load_for(data_cfg.model_copy(update={"train_size": 50}), tmp_path)


def test_the_final_fit_trains_on_training_then_validation_images_and_keeps_the_rest(
    synthetic_mnist: SyntheticMnist, data_cfg: DataConfig, tmp_path: Path
):
    path = _project_with_processed(tmp_path, synthetic_mnist, data_cfg)
    split = load_processed(path)
    final = load_for(data_cfg.model_copy(update={"train_on_val": True}), tmp_path)
    assert np.array_equal(final.x_train, np.concatenate([split.x_train, split.x_val]))
    assert np.array_equal(final.y_train, np.concatenate([split.y_train, split.y_val]))
    for key in ("x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(final, key), getattr(split, key))
    assert final.x_train.ctypes.data % 64 == 0  # training still shares its memory
    assert final.fingerprint != split.fingerprint  # never taken for the split's data
