"""Per-epoch checkpoints that a run resumes from, ending with the weights it would have had unstopped.

A checkpoint is everything training state that the next epoch reads: the weights and the optimizer's
variables (Keras' `save_weights` writes both once the optimizer is built), the state of every
dropout layer's seed generator (which `save_weights` leaves out), the epochs done and their history
rows. The batch order is a function of (seed, epoch) (see `pipeline.training.batches`), so it needs no state.

Layout, under `checkpoints/<run id>/` at the project root (outside every DVC output, git- and
dvc-ignored)::

    epoch-0003/model.weights.h5  epoch-0003/rng.npz  epoch-0003/state.json
    latest.json                  the manifest: which folder is complete, and what run it belongs to

An epoch's folder is written under a temp name and renamed whole; the manifest is renamed onto
`latest.json` last, so a crash at any moment leaves the previous checkpoint readable.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.core.atomic import WriteError, write_json_atomic
from pipeline.core.config import Settings, flatten
from pipeline.core.errors import UserError
from pipeline.core.paths import project_path

if TYPE_CHECKING:
    import keras

CHECKPOINTS = "checkpoints"
MANIFEST = "latest.json"
WEIGHTS = "model.weights.h5"
RNG = "rng.npz"
STATE = "state.json"
# Keys that change how a run is shown or resumed, never its numbers.
_NOT_MATH = {"train.progress", "train.resume"}


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable, or does not fit the model it should restore."""


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint: `epoch` epochs done, their history rows, and the run's identity."""

    folder: Path
    epoch: int
    history: list[dict[str, float]]
    run_id: str
    config_key: str
    source: str


@dataclass(frozen=True)
class Target:
    """Where a run checkpoints, and what the manifest says of it: run id, config key and source."""

    folder: Path
    run_id: str
    config_key: str
    source: str

    @property
    def identity(self) -> dict[str, str]:
        return {"run_id": self.run_id, "config_key": self.config_key, "source": self.source}


def checkpoints_root() -> Path:
    return project_path(CHECKPOINTS)


def run_folder(run_id: str, root: Path | None = None) -> Path:
    return (root or checkpoints_root()) / run_id


def config_key(settings: Settings, data_fingerprint: str) -> str:
    """What decides a training's numbers: the data, model and train config (not how it is tracked,
    shown or resumed). Two runs with the same key end with the same weights."""
    flat = flatten(settings)
    kept = {
        key: value
        for key, value in flat.items()
        if key.startswith(("data.", "model.", "train.")) and key not in _NOT_MATH
    }
    text = json.dumps({"config": kept, "data": data_fingerprint}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _generator_variables(model: keras.Model) -> dict[str, Any]:
    """Each layer's random-generator state variables (seed generators are variables, not weights),
    keyed by layer name and position, which a rebuilt model of the same config shares."""
    found: dict[str, Any] = {}
    for layer in model.layers:
        weights = {id(v) for v in layer.weights}
        extra = [v for v in layer.variables if id(v) not in weights]
        for index, variable in enumerate(extra):
            found[f"{layer.name}/{index}"] = variable
    return found


def rng_states(model: keras.Model) -> dict[str, np.ndarray]:
    return {key: np.asarray(variable.numpy()) for key, variable in _generator_variables(model).items()}


def save(
    model: keras.Model,
    folder: Path,
    epoch: int,
    history: list[dict[str, float]],
    identity: dict[str, str],
) -> Path:
    """Write the checkpoint after `epoch` epochs into `folder`; return the epoch's folder.

    `identity` is the run id, config key and source, kept in the manifest so `train.resume=last`
    and DVC can find the run a checkpoint belongs to.
    """
    target = folder / f"epoch-{epoch:04d}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=folder))
    except OSError as exc:
        raise WriteError.of(target, exc) from exc
    try:
        model.save_weights(tmp / WEIGHTS)
        with open(tmp / RNG, "wb") as out:
            states: dict[str, Any] = rng_states(model)  # arrays only (savez's own keywords aside)
            np.savez(out, **states)
        (tmp / STATE).write_text(json.dumps({"epoch": epoch, "history": history}) + "\n")
        if target.exists():  # a run resumed before this epoch's manifest was written
            shutil.rmtree(target)
        tmp.rename(target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WriteError.of(target, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_json_atomic(folder / MANIFEST, {"epoch": epoch, "folder": target.name, **identity})
    for old in folder.glob("epoch-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


def latest(folder: Path) -> Checkpoint | None:
    """The newest complete checkpoint in `folder`, None when there is none yet."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return None
    try:
        meta = json.loads(manifest.read_text())
        epoch_dir = folder / meta["folder"]
        state = json.loads((epoch_dir / STATE).read_text())
        return Checkpoint(
            folder=epoch_dir,
            epoch=int(state["epoch"]),
            history=list(state["history"]),
            run_id=str(meta["run_id"]),
            config_key=str(meta["config_key"]),
            source=str(meta["source"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {manifest} is unreadable ({exc}): delete {folder} to train from epoch 1"
        ) from None


def restore(model: keras.Model, checkpoint: Checkpoint) -> None:
    """Load weights, optimizer variables and generator states into a compiled model of the same config."""
    model.optimizer.build(model.trainable_variables)
    weights = checkpoint.folder / WEIGHTS
    try:
        model.load_weights(weights)
        with np.load(checkpoint.folder / RNG, allow_pickle=False) as saved:
            states = {key: saved[key] for key in saved.files}
    except (OSError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {checkpoint.folder} does not fit this model ({exc}): "
            f"delete {checkpoint.folder.parent} to train from epoch 1"
        ) from None
    variables = _generator_variables(model)
    if set(states) != set(variables):
        raise CheckpointError(
            f"checkpoint {checkpoint.folder} has generator states {sorted(states)}, "
            f"the model {sorted(variables)}: it was made by another config"
        )
    for key, variable in variables.items():
        variable.assign(states[key])


def remove(folder: Path) -> None:
    """Drop a finished run's checkpoints: the model files and MLflow hold its results now."""
    shutil.rmtree(folder, ignore_errors=True)


def find(root: Path, config_key: str, source: str | None = None) -> Checkpoint | None:
    """The newest checkpoint (by manifest time) of `config_key`, optionally made under `source`."""
    found: list[tuple[float, Checkpoint]] = []
    for manifest in root.glob(f"*/{MANIFEST}"):
        try:
            checkpoint = latest(manifest.parent)
        except CheckpointError:
            continue
        if checkpoint and checkpoint.config_key == config_key and source in (None, checkpoint.source):
            found.append((manifest.stat().st_mtime, checkpoint))
    return max(found, key=lambda item: item[0])[1] if found else None


def saver(
    model: keras.Model, target: Target, done: list[dict[str, float]]
) -> Callable[[dict[str, float], float], None]:
    """An epoch hook that checkpoints after every epoch; `done` holds the rows of epochs already done.

    Put it first among the hooks: an epoch's metrics are logged only once its checkpoint exists, so
    a resumed run never logs an epoch twice (see `pipeline.training.resume`).
    """
    rows = list(done)

    def save_epoch(row: dict[str, float], seconds: float) -> None:
        rows.append({**row, "seconds": seconds})
        save(model, target.folder, int(row["epoch"]), rows, target.identity)

    return save_epoch
