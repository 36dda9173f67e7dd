"""The train stage: `python -m pipeline.train` (Hydra app; `-m` sweeps; DVC's `train` matrix).

Loads the data the config asks for, trains inside an MLflow run (`pipeline.fit` does the training),
writes the run's files, and, for every launch but DVC (which has an evaluate stage), evaluates the
model inside the same run. TensorFlow is imported only after the config has been validated.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from pipeline import tracking
from pipeline.atomic import write_json_atomic, write_text_atomic
from pipeline.config import CONF_DIR, ConfigError, Settings, project_path
from pipeline.fit import TrainResult, build_and_fit, final_metrics
from pipeline.launch import Launch
from pipeline.layout import RunFiles, dvc_files, run_dir_files
from pipeline.preprocess import ProcessedData, load_for
from pipeline.stage import stage

log = logging.getLogger(__name__)


def write_outputs(result: TrainResult, files: RunFiles, run_info: dict[str, Any]) -> None:
    """Model (byte-reproducible), run info, history and final metrics, each written atomically."""
    from pipeline.model_file import save_model
    from pipeline.plots import learning_curves, save_figure

    save_model(result.model, files.model)
    write_json_atomic(files.run_info, run_info)
    write_text_atomic(files.history, result.history.to_csv(index=False, float_format="%.6f"))
    write_json_atomic(files.train_metrics, final_metrics(result.history))
    save_figure(learning_curves({"this run": result.history}), files.model_dir / "learning_curves.png")


def log_outputs(result: TrainResult, settings: Settings, files: RunFiles) -> None:
    """Artifacts of the active run: resolved config, history, learning curves and the model."""
    import numpy as np

    tracking.log_metrics({"seconds_per_epoch": result.seconds_per_epoch})
    tracking.log_text(yaml.safe_dump(settings.model_dump(), sort_keys=False), "config.yaml")
    tracking.log_files([files.history, files.model_dir / "learning_curves.png"])
    if settings.tracking.log_model:
        example = np.zeros((2, result.model.inputs[0].shape[1]), dtype="float32")
        tracking.log_keras_model(result.model, example, model_pip_requirements())


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
        tracking.warm_up_in_background()


def train_and_track(settings: Settings, data: ProcessedData, files: RunFiles, launch: Launch) -> str:
    """Train one config inside its MLflow run, write its files; return the run id."""
    tags = {tracking.TAG_FINGERPRINT: data.fingerprint}
    with tracking.training_run(settings, launch, tags) as run_id:
        sizes = {"train": len(data.y_train), "validation": len(data.y_val), "test": len(data.y_test)}
        source = project_path("data", "processed", f"{data.name}.npz")
        tracking.log_dataset(data.name, data.fingerprint, sizes, source)
        result = build_and_fit(settings, data, on_epoch=[tracking.log_epoch, warm_up_after_first_epoch])
        run_info = {
            "data_fingerprint": data.fingerprint,
            "dropout_rate": settings.model.dropout.rate,
            "dropout_impl": settings.model.dropout.impl,
            "seed": settings.train.seed,
        }
        write_outputs(result, files, run_info)
        # apart from the model folder (a DVC output): a random run id there would change its hash
        hand_over = {
            "run_id": run_id,
            "experiment_id": tracking.active_experiment_id(),
            "tracking_uri": tracking.resolve_tracking_uri(settings.tracking),
        }
        write_json_atomic(files.mlflow_run, hand_over)
        log_outputs(result, settings, files)
        if launch.evaluates_inline:
            from pipeline.evaluate import evaluate_and_log

            evaluate_and_log(result.model, data, result.history, settings.eval, settings.train.seed, files)
    last = result.history.iloc[-1]
    log.info(
        "run %s: val_accuracy %.4f, gap %+.4f, %.2fs/epoch",
        run_id, last["val_accuracy"], last["gap"], result.seconds_per_epoch,
    )  # fmt: skip
    return run_id


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


def run_files(launch: Launch) -> RunFiles:
    """DVC stages write the fixed paths of dvc.yaml; other runs their Hydra output folder."""
    if launch.under_dvc:
        return dvc_files(launch.require_dvc_rate())
    assert launch.output_dir is not None
    return run_dir_files(launch.output_dir)


@stage
def main(settings: Settings, launch: Launch) -> None:
    files = run_files(launch)
    if launch.under_dvc:
        check_matrix_rate(project_path("params.yaml"))
    data = load_for(settings.data, project_path())
    train_and_track(settings, data, files, launch)


if __name__ == "__main__":
    main()
