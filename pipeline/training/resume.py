"""Which checkpoint a training starts from, and which MLflow run it continues: `train.resume`.

    train.resume=<run id>   that run's last checkpoint, in that same MLflow run
    train.resume=last       the newest checkpoint of this same config (and data), in its run
    (DVC stage, no resume)  the newest checkpoint a killed `dvc repro` left for this stage's config:
                            a new MLflow run (DVC made a new invocation), which gets the earlier
                            epochs' metrics from the checkpoint, tagged with the run it resumes

A checkpoint only resumes a run of the same config: `checkpoint.config_key` must match, so the
weights it ends with are the ones an uninterrupted run would have had.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import UserError
from pipeline.training import checkpoint
from pipeline.training.checkpoint import Checkpoint


class ResumeError(UserError):
    """`train.resume` names a run that cannot be resumed."""


@dataclass(frozen=True)
class Start:
    """Where a training starts: a checkpoint (or none), and the MLflow run it continues (or a new one)."""

    checkpoint: Checkpoint | None = None
    run_id: str | None = None


def choose(resume: str | None, config_key: str, under_dvc: bool, root: Path | None = None) -> Start:
    """The start a training of `config_key` takes, given `train.resume` (checkpoints under `root`)."""
    root = root or checkpoint.checkpoints_root()
    if resume is None:
        found = checkpoint.find(root, config_key, source="dvc") if under_dvc else None
        return Start(found, None)
    if resume == "last":
        found = checkpoint.find(root, config_key)
        if found is None:
            raise ResumeError(
                f"train.resume=last: no checkpoint of this config in {root} (a run that finished "
                "keeps none); start it without train.resume"
            )
        return Start(found, found.run_id)
    folder = checkpoint.run_folder(resume, root)
    found = checkpoint.latest(folder)
    if found is None:
        raise ResumeError(
            f"train.resume={resume}: no checkpoint in {folder} (the run finished, never completed "
            "an epoch, or is not from this project)"
        )
    if found.config_key != config_key:
        raise ResumeError(
            f"train.resume={resume}: that run was trained with another config or data; resume it with "
            "the same overrides it was started with"
        )
    return Start(found, resume)
