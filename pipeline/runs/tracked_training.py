"""One training inside its MLflow run: what the train stage, the API and a search's trials call.

With `files` it writes them as it goes (the history every epoch, the model at the end), checkpoints
every epoch and resumes from a checkpoint (`pipeline.training.resume`); a trial writes only its run.
Evaluation joins the run afterwards (`pipeline.runs.tracked_evaluation`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from pipeline.core.config import Settings
from pipeline.core.environment import describe
from pipeline.core.layout import RunFiles
from pipeline.core.paths import project_path
from pipeline.data.processed import ProcessedData
from pipeline.process import interrupts
from pipeline.process.launch import Launch
from pipeline.tracking import active_run, record
from pipeline.tracking.reconcile import identity_tags
from pipeline.tracking.tags import TAG_ENV_PREFIX, TAG_FINGERPRINT, TAG_RESUMED_FROM
from pipeline.training import checkpoint, resume
from pipeline.training.epoch_metrics import HISTORY_COLUMNS
from pipeline.training.loop import EpochHook, TrainResult, build_and_fit
from pipeline.training.outputs import history_writer, write_outputs

log = logging.getLogger(__name__)


def train_tracked(
    settings: Settings,
    data: ProcessedData,
    launch: Launch,
    files: RunFiles | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    hooks: Sequence[EpochHook] = (),
    role: str = "train",
) -> tuple[str, TrainResult]:
    """Train one config inside its MLflow run; return the run id and the result. `tags` and `hooks`
    (after the recording ones) are the caller's own; `role` is the run's `dropout_lab.role` tag."""
    key = checkpoint.config_key(settings, data.fingerprint)
    # Early stopping's state is not checkpointed: such a DVC stage starts again rather than resume.
    auto_resume = launch.under_dvc and settings.train.early_stopping_patience is None
    start = resume.choose(settings.train.resume, key, auto_resume) if files else resume.Start()
    all_tags = {TAG_FINGERPRINT: data.fingerprint, **identity_tags(), **(tags or {})}
    all_tags |= {TAG_ENV_PREFIX + name: value for name, value in describe().items()}
    if start.checkpoint and start.run_id is None:
        all_tags[TAG_RESUMED_FROM] = start.checkpoint.run_id
    with active_run.training_run(settings, launch, all_tags, resume_run_id=start.run_id, role=role) as run_id:
        done = start.checkpoint.history if start.checkpoint else []
        if start.checkpoint and done:
            log.info(
                "%srun %s: resuming after epoch %d from %s",
                launch.line_prefix, run_id, len(done), start.checkpoint.folder,
            )  # fmt: skip
        if start.run_id is None:  # a resumed run has its dataset already
            sizes = {"train": len(data.y_train), "validation": len(data.y_val), "test": len(data.y_test)}
            source = project_path("data", "processed", f"{data.name}.npz")
            record.log_dataset(data.name, data.fingerprint, sizes, source)
        log_epochs_not_logged(done)
        target, writers = None, []
        recorders: list[EpochHook] = [record.log_epoch, record.heartbeat]
        if files is not None:
            target = checkpoint.Target(checkpoint.run_folder(run_id), run_id, key, launch.source.value)
            writers = [history_writer(files, done)]  # before the recorders: files lead, MLflow follows
            recorders.append(record.warm_up_after_first_epoch)  # for the model logged at the end
        try:
            every_hook = [*writers, *recorders, *hooks]
            result = build_and_fit(settings, data, every_hook, start.checkpoint, target, launch.line_prefix)
        except KeyboardInterrupt as exc:
            if target is not None:
                saved = checkpoint.latest(target.folder)
                interrupts.summarize(
                    exc, killed_line(run_id, exc, saved.epoch if saved else len(done), launch)
                )
            raise
        record.log_metrics({"seconds_per_epoch": result.seconds_per_epoch})
        if files is not None:
            write_outputs(result, files, settings, data)
            active_run.hand_over(files.mlflow_run, settings.tracking)
            record.log_training(result, settings, files.history, data)
    if target is not None:  # the run is complete: its files and MLflow hold everything
        checkpoint.remove(target.folder)
    if start.checkpoint:
        checkpoint.remove(start.checkpoint.folder.parent)
    last = result.history.iloc[-1]
    log.info(
        "%strained in MLflow run %s: val_accuracy %.4f, gap %+.4f, %.2fs/epoch",
        launch.line_prefix, run_id, last["val_accuracy"], last["gap"], result.seconds_per_epoch,
    )  # fmt: skip
    return run_id, result


def log_epochs_not_logged(done: list[dict[str, float]]) -> None:
    """Log the checkpoint's epochs the run has not logged: a new run resuming another's checkpoint
    (DVC), or a crash between an epoch's checkpoint and its metrics. Never an epoch twice."""
    last = active_run.last_logged_epoch()
    for row in done:
        if row["epoch"] > last:
            record.log_epoch({k: row[k] for k in HISTORY_COLUMNS if k in row}, row.get("seconds", 0.0))


def killed_line(run_id: str, exc: KeyboardInterrupt, epochs_done: int, launch: Launch) -> str:
    """The one line an interrupted training prints: which run, which status, how to resume."""
    how = f"KILLED by {interrupts.signal_name(exc)}"
    if epochs_done == 0:
        return f"run {run_id} {how} before its first epoch ended (nothing to resume: start it again)"
    if launch.under_dvc:
        return f"run {run_id} {how} after epoch {epochs_done}; resume with: dvc repro"
    overrides = [o for o in launch.overrides if not o.startswith("train.resume=")]
    command = " ".join(["python -m pipeline.train", *overrides, f"train.resume={run_id}"])
    return f"run {run_id} {how} after epoch {epochs_done}; resume with: {command}"
