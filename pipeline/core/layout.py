"""Where a training run's files live, in one place, so train, evaluate and compare agree.

Under DVC (stages read `params.yaml`), each rate and seed of the matrix has fixed paths that
`dvc.yaml` declares; an interactive Hydra run keeps everything in its own output folder.

The MLflow hand-over (which run evaluation logs into) is kept apart from what training writes into
the model folder: under DVC that folder is a stage output, and a run id in it would give every
training of the same config a different hash (and a new `dvc.lock`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.core.config import Settings
from pipeline.core.matrix import matrix_label
from pipeline.core.paths import project_path


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


def dvc_files(settings: Settings, root: Path | None = None) -> RunFiles:
    """The fixed paths (see dvc.yaml) of the DVC matrix item these settings train: the stage's
    command passes the item as overrides (`model.dropout.rate=${item.rate} train.seed=${item.seed}`),
    so the validated settings hold it."""
    return item_files(settings.model.dropout.rate, settings.train.seed, root)


def item_files(rate: float, seed: int, root: Path | None = None) -> RunFiles:
    """The paths of the DVC matrix item (rate, seed), named as DVC names them, after the item's
    values (`matrix.matrix_label`): what the stages write and the comparison reads."""
    base = root if root is not None else project_path()
    tag = matrix_label(rate, seed)
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
