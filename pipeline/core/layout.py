"""Where a training run's files live, in one place, so train, evaluate and compare agree.

Under DVC (stages read `params.yaml`), each rate of the matrix has fixed paths that `dvc.yaml`
declares; an interactive Hydra run keeps everything in its own output folder.

The MLflow hand-over (which run evaluation logs into) is kept apart from what training writes into
the model folder: under DVC that folder is a stage output, and a run id in it would give every
training of the same config a different hash (and a new `dvc.lock`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.core.config import Settings, matrix_label, project_path
from pipeline.core.errors import UserError


@dataclass(frozen=True)
class RunFiles:
    """The files one training run writes and its evaluation reads and extends."""

    model_dir: Path
    train_metrics: Path
    history: Path
    eval_metrics: Path
    confusion: Path
    plots_dir: Path
    mlflow_run: Path  # JSON: the MLflow run id and store, so evaluation logs into the training's run

    @property
    def model(self) -> Path:
        return self.model_dir / "model.keras"

    @property
    def run_info(self) -> Path:
        """JSON with what the model was trained on and with (data fingerprint, rate, seed): no run id."""
        return self.model_dir / "run.json"


def dvc_files(rate: float, root: Path | None = None) -> RunFiles:
    """The fixed paths of one rate of the DVC matrix (see dvc.yaml), named as DVC names them
    (`config.matrix_label`; `sweep.rates` are validated to be written as YAML floats)."""
    base = root if root is not None else project_path()
    tag = matrix_label(rate)
    return RunFiles(
        model_dir=base / "models" / tag,
        train_metrics=base / "metrics" / "train" / f"{tag}.json",
        history=base / "plots" / "history" / f"{tag}.csv",
        eval_metrics=base / "metrics" / "eval" / f"{tag}.json",
        confusion=base / "plots" / "confusion" / f"{tag}.csv",
        plots_dir=base / "plots" / "png" / tag,
        # not a DVC output: git- and DVC-ignored, beside Hydra's run folders
        mlflow_run=base / "outputs" / "dvc" / f"{tag}.mlflow_run.json",
    )


def matrix_item_files(settings: Settings) -> RunFiles:
    """A DVC stage's paths: those of the matrix item its command names (`+sweep.item=${item.rate}`
    in dvc.yaml), whose rate the validated settings train."""
    if settings.sweep.item is None:
        raise UserError(
            "run from params.yaml (DVC) without a +sweep.item=<rate> override: a DVC stage is one item "
            "of the train matrix over sweep.rates (see dvc.yaml)"
        )
    return dvc_files(settings.sweep.item)


def run_dir_files(run_dir: Path) -> RunFiles:
    """Paths inside one Hydra run folder (`outputs/<date>/<time>/`)."""
    return RunFiles(
        model_dir=run_dir,
        train_metrics=run_dir / "train_metrics.json",
        history=run_dir / "history.csv",
        eval_metrics=run_dir / "eval_metrics.json",
        confusion=run_dir / "confusion.csv",
        plots_dir=run_dir,
        mlflow_run=run_dir / "mlflow_run.json",
    )
