"""Training shares the loaded arrays' memory instead of copying them, with exactly the same results."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from pipeline.data.aligned import ALIGNMENT
from pipeline.data.build import write_npz
from pipeline.data.processed import FINGERPRINT_KEY, ProcessedData, load_processed
from pipeline.training.loop import build_and_fit, shared_tensor
from tests.helpers.training_fixtures import make_tiny_data, tiny_settings_with


def misaligned_copy(array: np.ndarray) -> np.ndarray:
    """The same values in a buffer that does NOT start on an ALIGNMENT boundary."""
    buffer = np.empty(array.nbytes + ALIGNMENT + 8, dtype=np.uint8)
    offset = (-buffer.ctypes.data % ALIGNMENT) + 8
    out = buffer[offset : offset + array.nbytes].view(array.dtype).reshape(array.shape)
    out[...] = array
    return out


def saved_and_loaded(data: ProcessedData, tmp_path: Path) -> ProcessedData:
    path = tmp_path / "tiny.npz"
    write_npz(path, {**data.arrays(), FINGERPRINT_KEY: np.array(data.fingerprint)})
    return load_processed(path)


def test_loaded_arrays_are_aligned_and_equal_to_numpys_reading(tmp_path: Path):
    data = make_tiny_data()
    loaded = saved_and_loaded(data, tmp_path)
    with np.load(tmp_path / "tiny.npz") as npz:
        for key, array in loaded.arrays().items():
            assert array.ctypes.data % ALIGNMENT == 0, key
            assert array.dtype == npz[key].dtype and np.array_equal(array, npz[key]), key
    assert loaded.fingerprint == data.fingerprint


def test_shared_tensor_uses_the_arrays_memory_and_leaves_others_alone(tmp_path: Path):
    x = saved_and_loaded(make_tiny_data(), tmp_path).x_train
    tensor = shared_tensor(x)
    x[0, 0] = 42.0  # visible through the tensor only if no copy was made
    assert float(tensor[0, 0]) == 42.0
    unaligned = misaligned_copy(x)
    assert shared_tensor(unaligned) is unaligned
    read_only = x.copy()
    read_only.flags.writeable = False
    assert shared_tensor(read_only) is read_only


def test_training_on_shared_tensors_equals_training_on_copies(tmp_path: Path):
    settings = tiny_settings_with("model.dropout.rate=0.5")
    aligned = saved_and_loaded(make_tiny_data(), tmp_path)
    copies = dataclasses.replace(aligned, **{k: misaligned_copy(v) for k, v in aligned.arrays().items()})
    shared = build_and_fit(settings, aligned)
    copied = build_and_fit(settings, copies)
    assert shared.history.equals(copied.history)
    for a, b in zip(shared.model.get_weights(), copied.model.get_weights(), strict=True):
        assert np.array_equal(a, b)
