"""The train stage: `python -m pipeline.train` (Hydra app; `-m` sweeps; DVC's `train` matrix).

Loads the data the config asks for, trains inside an MLflow run (`pipeline.training.loop` does the training),
writes the run's files, and, for every launch but DVC (which has an evaluate stage), evaluates the
model inside the same run. TensorFlow is imported only after the config has been validated.
"""

from __future__ import annotations

import logging

import pandas as pd
import yaml

from pipeline.core import interrupts
from pipeline.core.atomic import write_json_atomic, write_text_atomic
from pipeline.core.config import Settings, project_path
from pipeline.core.environment import describe
from pipeline.core.launch import Launch
from pipeline.core.layout import RunFiles, matrix_item_files, run_dir_files
from pipeline.core.params import default_rate
from pipeline.core.quick_exit import exit_without_teardown
from pipeline.core.stage import stage
from pipeline.data.preprocess import ProcessedData, load_for
from pipeline.tracking import active_run, record
from pipeline.tracking import reconcile as runs
from pipeline.tracking.tags import TAG_ENV_PREFIX, TAG_FINGERPRINT, TAG_RESUMED_FROM
from pipeline.tracking.uri import resolve_tracking_uri
from pipeline.training import checkpoint, resume
from pipeline.training.loop import HISTORY_COLUMNS, EpochHook, TrainResult, build_and_fit, final_metrics

log = logging.getLogger(__name__)


def write_outputs(result: TrainResult, files: RunFiles, settings: Settings, data: ProcessedData) -> None:
    """Model (byte-reproducible), run info, history and final metrics, each written atomically."""
    from pipeline.evaluation.plots import learning_curves, save_figure
    from pipeline.model.saving import save_model

    run_info = {
        "data_fingerprint": data.fingerprint,
        "dropout_rate": settings.model.dropout.rate,
        "dropout_impl": settings.model.dropout.impl,
        "seed": settings.train.seed,
    }
    save_model(result.model, files.model)
    write_json_atomic(files.run_info, run_info)
    write_history(result.history, files)
    save_figure(learning_curves({"this run": result.history}), files.model_dir / "learning_curves.png")


def write_history(history: pd.DataFrame, files: RunFiles) -> None:
    """The per-epoch history (CSV for `dvc plots`) and the last epoch's metrics (JSON for `dvc metrics`),
    each written atomically: a reader sees the previous epoch's file or this one's, never half of one.
    Metrics first: whoever sees epoch k in the history finds metrics of epoch k or later."""
    write_json_atomic(files.train_metrics, final_metrics(history))
    write_text_atomic(files.history, history.to_csv(index=False, float_format="%.6f"))


def history_writer(files: RunFiles, done: list[dict[str, float]]) -> EpochHook:
    """An epoch hook that rewrites the history and metrics files with the epochs so far, so
    `dvc exp show`, `dvc plots show` (and anyone reading the files) follow a running training.

    The same writer and rows as the final write, so the last epoch's files are already the final
    bytes; `done` are the epochs a resumed run's checkpoint holds.
    """
    rows = list(done)

    def write_epoch(row: dict[str, float], seconds: float) -> None:
        rows.append(row)
        write_history(pd.DataFrame(rows, columns=HISTORY_COLUMNS), files)

    return write_epoch


def log_outputs(result: TrainResult, settings: Settings, files: RunFiles, data: ProcessedData) -> None:
    """Artifacts of the active run: resolved config, history, learning curves and the model (its
    input example: the first two test images, as the model reads them; registered when asked)."""
    import numpy as np

    record.log_metrics({"seconds_per_epoch": result.seconds_per_epoch})
    record.log_text(yaml.safe_dump(settings.model_dump(), sort_keys=False), "config.yaml")
    record.log_files([files.history, files.model_dir / "learning_curves.png"])
    if settings.tracking.log_model:
        example = data.x_test[:2].astype(np.float32) / np.float32(255)  # what `to_unit` makes of them
        registry = None
        if settings.tracking.register_model:
            names = (settings.tracking.experiment, settings.data.name, settings.model.name)
            registry = record.registered_model(*names, settings.model.dropout.rate)
        record.log_keras_model(result.model, example, model_pip_requirements(), registry)


def model_pip_requirements() -> list[str]:
    """What loading the logged model needs, pinned to the versions that trained it (the CPU-only
    TensorFlow wheel, or the full one where a GPU install replaced it)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = [f"keras=={version('keras')}"]
    for name in ("tensorflow-cpu", "tensorflow"):
        try:
            return [*pins, f"{name}=={version(name)}"]
        except PackageNotFoundError:
            continue
    return pins


def warm_up_after_first_epoch(row: dict[str, float], seconds: float) -> None:
    """Start MLflow's warm-up once tracing is done: tracing needs the interpreter, steady-state
    training hardly does."""
    if row["epoch"] == 1:
        record.warm_up_in_background()


def train_and_track(settings: Settings, data: ProcessedData, files: RunFiles, launch: Launch) -> str:
    """Train one config inside its MLflow run, write its files; return the run id."""
    return train_tracked(settings, data, files, launch)[0]


def train_tracked(
    settings: Settings, data: ProcessedData, files: RunFiles, launch: Launch
) -> tuple[str, TrainResult]:
    """Train one config inside its MLflow run, write its files; return the run id and the result.

    Checkpoints after every epoch (`checkpoints/<run id>/`, removed when the run finishes), and
    starts from one when `train.resume` says so, or, under DVC, when a killed `dvc repro` left one
    for this config (see `pipeline.training.resume`).
    """
    key = checkpoint.config_key(settings, data.fingerprint)
    # Early stopping's state is not checkpointed: such a DVC stage starts again rather than resume.
    auto_resume = launch.under_dvc and settings.train.early_stopping_patience is None
    start = resume.choose(settings.train.resume, key, auto_resume)
    tags = {TAG_FINGERPRINT: data.fingerprint, **runs.identity_tags()}
    tags |= {TAG_ENV_PREFIX + key: value for key, value in describe().items()}
    if start.checkpoint and start.run_id is None:
        tags[TAG_RESUMED_FROM] = start.checkpoint.run_id
    with active_run.training_run(settings, launch, tags, resume_run_id=start.run_id) as run_id:
        target = checkpoint.Target(checkpoint.run_folder(run_id), run_id, key, launch.source.value)
        done = start.checkpoint.history if start.checkpoint else []
        if start.checkpoint and done:
            log.info("run %s: resuming after epoch %d from %s", run_id, len(done), start.checkpoint.folder)
        if start.run_id is None:  # a resumed run has its dataset already
            sizes = {"train": len(data.y_train), "validation": len(data.y_val), "test": len(data.y_test)}
            source = project_path("data", "processed", f"{data.name}.npz")
            record.log_dataset(data.name, data.fingerprint, sizes, source)
        log_epochs_not_logged(done)
        hooks = [history_writer(files, done), record.log_epoch, record.heartbeat, warm_up_after_first_epoch]
        try:
            result = build_and_fit(settings, data, hooks, start=start.checkpoint, save_to=target)
        except KeyboardInterrupt as exc:
            saved = checkpoint.latest(target.folder)
            interrupts.summarize(exc, killed_line(run_id, exc, saved.epoch if saved else len(done), launch))
            raise
        write_outputs(result, files, settings, data)
        # apart from the model folder (a DVC output): a random run id there would change its hash
        hand_over = {
            "run_id": run_id,
            "experiment_id": active_run.active_experiment_id(),
            "tracking_uri": resolve_tracking_uri(settings.tracking),
        }
        write_json_atomic(files.mlflow_run, hand_over)
        log_outputs(result, settings, files, data)
        if launch.evaluates_inline:
            from pipeline.evaluation.evaluate import evaluate_model, flat_metrics, write_evaluation

            seed = settings.train.seed
            evaluation = evaluate_model(result.model, data, result.history, settings.eval, seed)
            record.log_evaluation(flat_metrics(evaluation.metrics), write_evaluation(evaluation, files))
    checkpoint.remove(target.folder)  # the run is complete: its files and MLflow hold everything
    if start.checkpoint:
        checkpoint.remove(start.checkpoint.folder.parent)
    last = result.history.iloc[-1]
    log.info(
        "run %s: val_accuracy %.4f, gap %+.4f, %.2fs/epoch",
        run_id, last["val_accuracy"], last["gap"], result.seconds_per_epoch,
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
    overrides = [o for o in _task_overrides() if not o.startswith("train.resume=")]
    command = " ".join(["python -m pipeline.train", *overrides, f"train.resume={run_id}"])
    return f"run {run_id} {how} after epoch {epochs_done}; resume with: {command}"


def _task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def run_files(settings: Settings, launch: Launch) -> RunFiles:
    """DVC stages write the fixed paths of dvc.yaml; other runs their Hydra output folder."""
    if launch.under_dvc:
        return matrix_item_files(settings)
    assert launch.output_dir is not None
    return run_dir_files(launch.output_dir)


@stage(default_rate=default_rate)  # a DVC rate the matrix would ignore is refused
def main(settings: Settings, launch: Launch) -> None:
    files = run_files(settings, launch)
    data = load_for(settings.data, project_path())
    runs.reconcile(settings.tracking)  # runs a crash left RUNNING end FAILED before this one starts
    train_and_track(settings, data, files, launch)


if __name__ == "__main__":
    main()
    exit_without_teardown()  # TensorFlow's interpreter teardown outputs nothing and takes seconds
