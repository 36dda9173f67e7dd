"""Train one model and log it to MLflow: `python -m pipeline.train` (Hydra app; `-m` sweeps).

TensorFlow is imported only after the config has been validated, so a bad value fails at once.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
import pandas as pd
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pipeline import tracking
from pipeline.atomic import write_json_atomic, write_text_atomic, write_with
from pipeline.config import CONF_DIR, ConfigError, Settings, TrainConfig, load_settings, project_path
from pipeline.errors import reported_as_exit
from pipeline.layout import RunFiles, dvc_files, run_dir_files

if TYPE_CHECKING:
    import keras

    from pipeline.preprocess import ProcessedData

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "gap"]


@dataclass
class TrainResult:
    """A fitted model, its per-epoch history (1-based epochs) and the median epoch time."""

    model: keras.Model
    history: pd.DataFrame
    seconds_per_epoch: float


def configure_runtime(cfg: TrainConfig) -> None:
    """Seed every generator and make ops deterministic, so the same config gives the same numbers.

    Thread counts can only be set before TensorFlow runs its first op; later calls (a second
    training in the same process) keep the threads already chosen.
    """
    import keras
    import tensorflow as tf

    if cfg.threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(cfg.threads)
            tf.config.threading.set_inter_op_parallelism_threads(cfg.threads)
        except RuntimeError:
            log.debug("TensorFlow already initialised; keeping its thread settings")
    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()


def compile_model(model: keras.Model, cfg: TrainConfig) -> None:
    """Integer labels with sparse cross-entropy: the same loss as one-hot, without the copy."""
    import keras

    optimizer = keras.optimizers.get(
        {"class_name": cfg.optimizer, "config": {"learning_rate": cfg.learning_rate}}
    )
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=cfg.steps_per_execution,
    )


def _epoch_recorder(on_epoch: list[Any]) -> Any:
    """A Keras callback that times epochs, keeps the history rows and tells `on_epoch` hooks."""
    import keras

    class EpochRecorder(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[dict[str, float]] = []
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.seconds.append(time.perf_counter() - self._start)
            logs = logs or {}
            row = {"epoch": epoch + 1, **{k: float(logs[k]) for k in HISTORY_COLUMNS[1:5]}}
            row["gap"] = row["accuracy"] - row["val_accuracy"]
            self.rows.append(row)
            for hook in on_epoch:
                hook(row, self.seconds[-1])

    return EpochRecorder()


def log_epoch_line(row: dict[str, float], seconds: float) -> None:
    """One concise line per epoch, for logs where a progress bar would be noise."""
    log.info(
        "epoch %d  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f  gap %+.4f  (%.1fs)",
        row["epoch"], row["loss"], row["accuracy"], row["val_loss"], row["val_accuracy"],
        row["gap"], seconds,
    )  # fmt: skip


def fit(
    model: keras.Model, data: ProcessedData, cfg: TrainConfig, on_epoch: list[Any] | None = None
) -> TrainResult:
    """Fit on the training split, validating on the held-out split after every epoch."""
    hooks = list(on_epoch or [])
    show_bar = cfg.progress and sys.stdout.isatty()
    if cfg.progress and not show_bar:
        hooks.append(log_epoch_line)
    recorder = _epoch_recorder(hooks)
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        validation_data=(data.x_val, data.y_val),
        shuffle=True,
        callbacks=[recorder],
        verbose=1 if show_bar else 0,
    )
    history = pd.DataFrame(recorder.rows, columns=HISTORY_COLUMNS)
    return TrainResult(model, history, float(pd.Series(recorder.seconds).median()))


def build_and_fit(settings: Settings, data: ProcessedData, on_epoch: list[Any] | None = None) -> TrainResult:
    """The whole training of one config, without tracking: what tests and benchmarks call."""
    from pipeline.model import build_model

    configure_runtime(settings.train)
    model = build_model(
        settings.model,
        input_dim=data.x_train.shape[1],
        num_classes=int(data.y_train.max()) + 1,
        seed=settings.train.seed,
    )
    compile_model(model, settings.train)
    return fit(model, data, settings.train, on_epoch)


def final_metrics(history: pd.DataFrame) -> dict[str, float]:
    """The last epoch's numbers, as `dvc metrics show` tabulates them."""
    last = history.iloc[-1]
    metrics = {key: round(float(last[key]), 6) for key in HISTORY_COLUMNS[1:]}
    return {**metrics, "epochs": len(history)}


def write_outputs(result: TrainResult, files: RunFiles, run_info: dict[str, Any]) -> None:
    """Model, run id, history and final metrics, each written atomically."""
    from pipeline.plots import learning_curves, save_figure

    write_with(files.model, lambda tmp: result.model.save(tmp))
    write_json_atomic(files.run_info, run_info)
    write_text_atomic(files.history, result.history.to_csv(index=False, float_format="%.6f"))
    write_json_atomic(files.train_metrics, final_metrics(result.history))
    save_figure(learning_curves({"this run": result.history}), files.model_dir / "learning_curves.png")


def log_to_mlflow(result: TrainResult, settings: Settings, files: RunFiles, log_model: bool) -> None:
    """Artifacts of the active run: resolved config, history, learning curves and the model."""
    import mlflow
    import numpy as np
    from mlflow.models import infer_signature

    mlflow.log_metric("seconds_per_epoch", result.seconds_per_epoch)
    mlflow.log_text(yaml.safe_dump(settings.model_dump(), sort_keys=False), "config.yaml")
    mlflow.log_artifact(str(files.history))
    mlflow.log_artifact(str(files.model_dir / "learning_curves.png"))
    if log_model:
        example = _example_input(result.model.inputs[0].shape[1])
        signature = infer_signature(example, np.asarray(result.model(example, training=False)))
        mlflow.keras.log_model(
            result.model, name="model", signature=signature, pip_requirements=model_pip_requirements()
        )


def model_pip_requirements() -> list[str]:
    """What loading the logged model needs, pinned to the versions that trained it.

    Given explicitly because MLflow's inference of them reloads the model in a fresh Python process
    (about 10 s per run here, more than the whole 5-epoch training).
    """
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("keras", "tensorflow")]


def _example_input(width: int) -> Any:
    import numpy as np

    return np.zeros((2, width), dtype="float32")


def epoch_metrics_to_mlflow(row: dict[str, float], seconds: float) -> None:
    """Per-epoch loss/accuracy/val_loss/val_accuracy/gap, step = epoch (1-based)."""
    import mlflow

    metrics = {key: row[key] for key in HISTORY_COLUMNS[1:]}
    mlflow.log_metrics({**metrics, "epoch_seconds": seconds}, step=int(row["epoch"]))


def warm_up_after_first_epoch(row: dict[str, float], seconds: float) -> None:
    """Start MLflow's warm-up once tracing is done: tracing needs the interpreter, steady-state
    training hardly does."""
    if row["epoch"] == 1:
        tracking.warm_up_in_background()


def train_and_track(
    settings: Settings, data: ProcessedData, files: RunFiles, context: tracking.SweepContext
) -> str:
    """Train one config inside its MLflow run, write its files; return the run id."""
    tags = {tracking.TAG_FINGERPRINT: data.fingerprint}
    with tracking.training_run(settings, context, tags) as run_id:
        result = build_and_fit(settings, data, on_epoch=[epoch_metrics_to_mlflow, warm_up_after_first_epoch])
        run_info = {
            "run_id": run_id,
            "experiment_id": _active_experiment(),
            "tracking_uri": tracking.resolve_tracking_uri(settings.tracking),
            "data_fingerprint": data.fingerprint,
            "dropout_rate": settings.model.dropout.rate,
            "dropout_impl": settings.model.dropout.impl,
            "seed": settings.train.seed,
        }
        write_outputs(result, files, run_info)
        log_to_mlflow(result, settings, files, settings.tracking.log_model)
        if context.source != "dvc":  # DVC evaluates in its own stage; other runs are complete here
            from pipeline.evaluate import evaluate_and_log

            evaluate_and_log(result.model, data, result.history, settings.eval, settings.train.seed, files)
    last = result.history.iloc[-1]
    log.info(
        "run %s: val_accuracy %.4f, gap %+.4f, %.2fs/epoch",
        run_id, last["val_accuracy"], last["gap"], result.seconds_per_epoch,
    )  # fmt: skip
    return run_id


def _active_experiment() -> str:
    import mlflow

    return mlflow.active_run().info.experiment_id


def check_matrix_rate(params_file: Path) -> None:
    """Under DVC the matrix sets `model.dropout.rate` per stage from `sweep.rates`.

    A `dvc exp run -S model.dropout.rate=...` would be silently overridden, so it is refused
    with a pointer to the key that does work.
    """
    written = yaml.safe_load(params_file.read_text())["model"]["dropout"]["rate"]
    default = yaml.safe_load((CONF_DIR / "model" / "mlp.yaml").read_text())["dropout"]["rate"]
    if float(written) != float(default):
        raise ConfigError(
            f"model.dropout.rate = {written} in {params_file.name}, but the DVC train matrix sets "
            f"the rate of each stage from sweep.rates. Use: dvc exp run -S 'sweep.rates=[{written}]' "
            f"(or python -m pipeline.train model.dropout.rate={written} for a single run)."
        )


def matrix_rate_text() -> str:
    """The rate exactly as DVC wrote it into the command (`${item.rate}`), for the output paths."""
    for override in HydraConfig.get().overrides.task:
        key, _, value = override.partition("=")
        if key == "model.dropout.rate":
            return value
    raise ConfigError("run from params.yaml (DVC) without a model.dropout.rate=<rate> override")


def run_files() -> tuple[RunFiles, str]:
    """DVC stages read params.yaml and write the fixed paths of dvc.yaml; others their run folder."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.job.config_name == "params":
        return dvc_files(matrix_rate_text()), "dvc"
    return run_dir_files(Path(hydra_cfg.runtime.output_dir)), "hydra"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    with reported_as_exit():
        settings = load_settings(cfg)
        files, source = run_files()
        if source == "dvc":
            check_matrix_rate(project_path("params.yaml"))
        from pipeline.preprocess import load_for

        data = load_for(settings.data, project_path())
        train_and_track(settings, data, files, tracking.SweepContext.from_env(source))


if __name__ == "__main__":
    main()
