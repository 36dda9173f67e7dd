"""What a training and its evaluation record into the ACTIVE run (`pipeline.tracking.active_run`):
per-epoch metrics and heartbeat, the dataset, files, the model, the evaluation's numbers and figures.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pipeline.core.config import Settings
from pipeline.tracking.tags import TAG_HEARTBEAT

if TYPE_CHECKING:
    import keras
    from matplotlib.figure import Figure

    from pipeline.data.processed import ProcessedData
    from pipeline.training.loop import TrainResult

log = logging.getLogger(__name__)

EVAL_ARTIFACT_DIR = "eval"  # where evaluation files go inside the training's run


def log_epoch(row: Mapping[str, float], seconds: float) -> None:
    """Per-epoch loss/accuracy/val_loss/val_accuracy/gap and the epoch's time; step = epoch (1-based)."""
    import mlflow

    metrics = {key: float(value) for key, value in row.items() if key != "epoch"}
    mlflow.log_metrics({**metrics, "epoch_seconds": seconds}, step=int(row["epoch"]))


def heartbeat(row: Mapping[str, float], seconds: float) -> None:
    """An epoch hook: tell reconciliation (on any host) that this run's process is alive."""
    import mlflow

    mlflow.set_tag(TAG_HEARTBEAT, f"{time.time():.3f}")


def log_dataset(name: str, fingerprint: str, sizes: Mapping[str, int], source: Path) -> None:
    """The run's data as an MLflow dataset input (the runs table's Dataset column): its name, the
    fingerprint as digest (its first 32 hex digits: MLflow keeps 36 characters), the split sizes."""
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.exceptions import MlflowException

    with warnings.catch_warnings():  # MLflow registers its local-file source twice, then warns so
        warnings.simplefilter("ignore", UserWarning)
        located = resolve_dataset_source(str(source))
    # MLflow declares `profile` abstract on Dataset; MetaDataset, which has none, is meant to be used as is.
    dataset = MetaDataset(source=located, name=name, digest=fingerprint[:32])  # type: ignore[abstract]
    tags = {f"{split}_size": str(n) for split, n in sizes.items()}
    try:
        mlflow.log_input(dataset, context="training", tags=tags)
    except MlflowException:
        # Parallel jobs of one experiment insert the same new dataset at once (MLflow looks it up,
        # then inserts): one wins, the others fail on its unique key. It exists now: link it again.
        mlflow.log_input(dataset, context="training", tags=tags)


def log_metrics(values: Mapping[str, float]) -> None:
    import mlflow

    mlflow.log_metrics(dict(values))


def log_text(text: str, name: str) -> None:
    import mlflow

    mlflow.log_text(text, name)


def log_files(paths: Iterable[Path], artifact_dir: str | None = None) -> None:
    import mlflow

    for path in paths:
        mlflow.log_artifact(str(path), artifact_dir)


def log_figure(figure: Figure, name: str) -> None:
    import mlflow

    mlflow.log_figure(figure, name)


def log_training(result: TrainResult, settings: Settings, history: Path, data: ProcessedData) -> None:
    """What a finished training adds to its run: the resolved config, the history file and, with
    `tracking.log_model`, the model as an MLflow model (its input example: the first two test images,
    as the model reads them), registered with `tracking.register_model`."""
    log_text(yaml.safe_dump(settings.model_dump(), sort_keys=False), "config.yaml")
    log_files([history])
    if settings.tracking.log_model:
        import numpy as np

        example = data.x_test[:2].astype(np.float32) / np.float32(255)  # what `to_unit` makes of them
        registry = None
        if settings.tracking.register_model:
            names = (settings.tracking.experiment, settings.data.name, settings.model.name)
            registry = registered_model(*names, settings.model.dropout.rate)
        log_keras_model(result.model, example, registry)


def log_keras_model(model: keras.Model, example: Any, registered_as: tuple[str, str] | None = None) -> None:
    """The model as an MLflow model, with `example` (a batch of inputs) as its input example and
    the signature inferred from it; `registered_as` (name, alias): also a new version of that
    registered model, the alias pointing at it.

    The pip requirements are given, not inferred: inference reloads the model in a fresh Python
    process (about 10 s per run here, more than a whole 5-epoch training).
    """
    import mlflow
    import numpy as np
    from mlflow.models import infer_signature

    signature = infer_signature(example, np.asarray(model(example, training=False)))
    # No serving check of the example: it is the model's own input, and the check would load the
    # model again and predict, drawing Keras' progress bar into the run's output.
    info = mlflow.models.Model.log(
        artifact_path=None, name="model", flavor=_KerasFlavor, model=model, signature=signature,
        input_example=example, pip_requirements=model_pip_requirements(), validate_serving_input=False,
        registered_model_name=registered_as[0] if registered_as else None,
    )  # fmt: skip
    if registered_as:
        name, alias = registered_as
        mlflow.MlflowClient().set_registered_model_alias(name, alias, str(info.registered_model_version))


class _KerasFlavor:
    """`mlflow.keras` as `Model.log` uses a flavor, whose `save_model` first makes the model's folder:
    MLflow's own (3.17, 3.18) writes the input example into it before making it, and fails."""

    __name__ = "mlflow.keras"  # the flavor the logged model records

    @staticmethod
    def save_model(path: str, validate_serving_input: bool = True, **kwargs: Any) -> None:
        """`Model.log` hands its own `validate_serving_input` on too; `mlflow.keras` takes none."""
        import mlflow.keras

        Path(path).mkdir(parents=True, exist_ok=True)
        mlflow.keras.save_model(path=path, **kwargs)


def registered_model(experiment: str, dataset: str, model: str, rate: float) -> tuple[str, str]:
    """The registered model a training's model is a version of (`dropout-lab-mnist-mlp`), and the
    alias of its dropout rate (`rate-0_5`: MLflow's aliases take letters, digits, `_` and `-`)."""
    return f"{experiment}-{dataset}-{model}", f"rate-{rate:g}".replace(".", "_")


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


def warm_up_after_first_epoch(row: Mapping[str, float], seconds: float) -> None:
    """An epoch hook: start MLflow's warm-up once tracing is done (tracing needs the interpreter,
    steady-state training hardly does)."""
    if row["epoch"] == 1:
        warm_up_in_background()


def warm_up_in_background() -> threading.Thread:
    """Import what end-of-run model logging needs in a background thread, while the model trains.

    The first `mlflow.keras.log_model` of a process imports the flavor's modules and `mlflow.pyfunc`
    (some 0.4 s of pydantic model classes). Training with one TensorFlow thread leaves the
    interpreter lock and a core free most of the time, so done meanwhile it costs the run next to
    nothing. A failure only means `log_model` does the imports itself, as before.
    """

    def work() -> None:
        try:
            for module in ("mlflow.keras", "mlflow.pyfunc", "mlflow.models"):
                importlib.import_module(module)
        except Exception:
            log.debug("MLflow warm-up failed; model logging will import what it needs", exc_info=True)

    thread = threading.Thread(target=work, name="mlflow-warm-up", daemon=True)
    thread.start()
    return thread


def log_evaluation(flat_metrics: Mapping[str, float], written: Iterable[Path]) -> None:
    """An evaluation's metrics and files into the ACTIVE run (the training run, joined or open)."""
    log_metrics(flat_metrics)
    log_files(written, EVAL_ARTIFACT_DIR)
