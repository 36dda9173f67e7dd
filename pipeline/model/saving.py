"""Save a Keras model as a `.keras` file whose bytes depend only on the model.

Keras stamps each save with the wall clock (`date_saved` in `metadata.json`, the zip entry time
of `model.weights.h5`) and with memory addresses: objects that layers share (a dtype policy) carry
`shared_object_id` = Python's `id()` in `config.json`. Two trainings of the same config would then
write different files, so DVC would see a new model (and a new `dvc.lock`) on every run.

Keras writes the zip as usual; the entries are then rewritten in the same order with a fixed date,
`date_saved` pinned and the shared-object ids renumbered 0, 1, 2... in order of appearance (the same
object keeps the same number, so loading shares exactly what was shared). The weights file has no
timestamps (h5py creates datasets with `track_times=False`). The result loads with
`keras.saving.load_model`.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.atomic import atomic_path

if TYPE_CHECKING:
    import keras

METADATA = "metadata.json"
CONFIG = "config.json"
SHARED_ID = "shared_object_id"
# The earliest date a zip entry can hold (what reproducible-build tools use).
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
DATE_SAVED = "1980-01-01@00:00:00"  # Keras' own format, so readers that parse it still can


def stable_archive(data: bytes) -> bytes:
    """The same zip with fixed entry dates and modes, and a pinned `date_saved`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for entry in src.infolist():
            content = src.read(entry)
            if entry.filename == METADATA:
                content = _pinned_metadata(content)
            elif entry.filename == CONFIG:
                content = _renumbered_shared_objects(content)
            info = zipfile.ZipInfo(entry.filename, date_time=ZIP_DATE)
            info.compress_type = entry.compress_type
            info.external_attr = 0o644 << 16
            dst.writestr(info, content)
    return out.getvalue()


def _pinned_metadata(content: bytes) -> bytes:
    metadata = json.loads(content)
    if "date_saved" in metadata:
        metadata["date_saved"] = DATE_SAVED
    return json.dumps(metadata).encode()


def _renumbered_shared_objects(content: bytes) -> bytes:
    numbers: dict[Any, int] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: numbers.setdefault(value, len(numbers)) if key == SHARED_ID else walk(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return json.dumps(walk(json.loads(content))).encode()


def save_model(model: keras.Model, target: Path | str) -> None:
    """Write `model` to `target` (a `.keras` path) atomically and byte-reproducibly."""
    with atomic_path(target) as tmp:
        model.save(tmp)
        tmp.write_bytes(stable_archive(tmp.read_bytes()))
