"""The evaluate stage: `python -m pipeline.evaluate` (Hydra app, DVC stage).

The numbers go to the run's metrics JSON and into the MLflow run that trained the model
(`pipeline.runs.tracked_evaluation`), never into a new run. Which model: under DVC (`--config-name
params model.dropout.rate=<rate> train.seed=<seed>`) the matrix paths of that item; interactively
the folder in DROPOUT_LAB_RUN_DIR, else the newest training run under `outputs/` or `multirun/`.
TensorFlow is imported only after the config has been validated.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.core.config import Settings
from pipeline.core.errors import UserError
from pipeline.core.layout import RunFiles, dvc_files, run_dir_files
from pipeline.core.matrix import matrix_item
from pipeline.core.paths import project_path
from pipeline.data.build import load_for
from pipeline.process.exit import exit_without_teardown
from pipeline.process.launch import Launch
from pipeline.process.stage import stage
from pipeline.runs.tracked_evaluation import evaluate_tracked

RUN_DIR_ENV = "DROPOUT_LAB_RUN_DIR"


def latest_run_dir(base: Path) -> Path:
    """The newest interactive training run (`outputs/<day>/<time>/`, `multirun/<day>/<time>/<job>/`)."""
    found = [*base.glob("outputs/*/*/model.keras"), *base.glob("multirun/*/*/*/model.keras")]
    if not found:
        raise UserError(
            f"no trained model under {base / 'outputs'} or {base / 'multirun'}: train one with "
            f"`python -m pipeline.train`, or set {RUN_DIR_ENV} to a training run's folder"
        )
    return max(found, key=lambda path: path.stat().st_mtime).parent


def stage_files(settings: Settings, launch: Launch) -> tuple[RunFiles, str]:
    """The run to evaluate and the command that makes it: DVC matrix paths, or an interactive run."""
    if launch.under_dvc:
        item = matrix_item(settings.model.dropout.rate, settings.train.seed)
        return dvc_files(settings), f"dvc repro train@{item}"
    chosen = os.environ.get(RUN_DIR_ENV)
    run_dir = Path(chosen) if chosen else latest_run_dir(Path.cwd())
    return run_dir_files(run_dir.resolve()), "python -m pipeline.train"


@stage
def main(settings: Settings, launch: Launch) -> None:
    files, make_it = stage_files(settings, launch)
    data = load_for(settings.data, project_path())
    evaluate_tracked(settings, data, files, make_it, line_prefix=launch.line_prefix)


if __name__ == "__main__":
    main()
    exit_without_teardown()  # TensorFlow's interpreter teardown outputs nothing and takes seconds
