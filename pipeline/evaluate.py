"""The evaluate stage: `python -m pipeline.evaluate` (Hydra app, DVC stage).

The numbers go to metrics JSON for DVC and into the MLflow run that trained the model (its id
travels in `run.json`), never into a new run. Which model: under DVC (`--config-name params
model.dropout.rate=<rate>`) the matrix paths of that rate; interactively the folder in
DROPOUT_LAB_RUN_DIR, else the newest training run under `outputs/` or `multirun/`. TensorFlow is
imported only after the config has been validated.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.config import Settings
from pipeline.core.errors import UserError
from pipeline.core.layout import RunFiles, dvc_files, run_dir_files
from pipeline.core.paths import project_path
from pipeline.evaluation.scoring import (
    Evaluation,
    evaluate_model,
    flat_metrics,
    load_trained,
    read_run_info,
    write_evaluation,
)
from pipeline.process.exit import exit_without_teardown
from pipeline.process.launch import Launch
from pipeline.process.stage import stage
from pipeline.tracking.active_run import joined_run
from pipeline.tracking.record import log_evaluation
from pipeline.tracking.store import Store

log = logging.getLogger(__name__)

RUN_DIR_ENV = "DROPOUT_LAB_RUN_DIR"


def trained_in_run(files: RunFiles) -> tuple[str, str] | None:
    """(run id, tracking URI) of the MLflow run that trained the model, if this store has it.

    None when the hand-over is missing (the model came from `dvc pull` or another clone) or the
    run is not in the store it names. A damaged hand-over is a UserError naming it.
    """
    if not files.mlflow_run.is_file():
        return None
    try:
        hand_over = json.loads(files.mlflow_run.read_text())
        run_id, uri = hand_over["run_id"], hand_over["tracking_uri"]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UserError(
            f"{files.mlflow_run} is damaged ({type(exc).__name__}: {exc}): delete it to evaluate without "
            "logging to MLflow, or train again"
        ) from None
    return (run_id, uri) if Store(uri).has_run(run_id) else None


def latest_run_dir(base: Path) -> Path:
    """The newest interactive training run (`outputs/<day>/<time>/`, `multirun/<day>/<time>/<job>/`)."""
    found = [*base.glob("outputs/*/*/model.keras"), *base.glob("multirun/*/*/*/model.keras")]
    if not found:
        raise UserError(
            f"no trained model under {base / 'outputs'} or {base / 'multirun'}: train one with "
            f"`python -m pipeline.train`, or set {RUN_DIR_ENV} to a training run's folder"
        )
    return max(found, key=lambda path: path.stat().st_mtime).parent


def run_evaluation(settings: Settings, files: RunFiles, make_it: str) -> Evaluation:
    """Evaluate the model in `files` on the configured data; log into its training run."""
    from pipeline.data.build import load_for

    info = read_run_info(files, make_it)
    data = load_for(settings.data, project_path())
    if data.fingerprint != info["data_fingerprint"]:
        raise UserError(
            f"the model in {files.model_dir} was trained on data {info['data_fingerprint']}, but "
            f"the data of these settings is {data.fingerprint}: retrain, or compose the "
            "data config it was trained with"
        )
    evaluation = evaluate_model(
        load_trained(files.model, make_it), data, pd.read_csv(files.history), settings.eval, int(info["seed"])
    )
    written = write_evaluation(evaluation, files)
    trained_in = trained_in_run(files)
    if trained_in is not None:
        with joined_run(*trained_in):
            log_evaluation(flat_metrics(evaluation.metrics), written)
    else:
        log.warning(
            "the MLflow run that trained %s is not known here (%s): metrics written to %s only",
            files.model, files.mlflow_run, files.eval_metrics,
        )  # fmt: skip
    _log_summary(evaluation.metrics, files)
    return evaluation


def _log_summary(values: dict[str, Any], files: RunFiles) -> None:
    mc = f", MC acc {values['mc_accuracy']:.4f} ECE {values['mc_ece']:.4f}" if values["mc_samples"] else ""
    log.info(
        "%s: test acc %.4f, gap %+.4f, best epoch %d, ECE %.4f, NLL %.4f%s",
        files.model_dir, values["test_accuracy"], values["overfit_gap"], values["best_epoch"],
        values["test_ece"], values["test_nll"], mc,
    )  # fmt: skip


def stage_files(settings: Settings, launch: Launch) -> tuple[RunFiles, str]:
    """The run to evaluate and the command that makes it: DVC matrix paths, or an interactive run."""
    if launch.under_dvc:
        return dvc_files(settings), f"dvc repro train@{settings.model.dropout.rate}"
    chosen = os.environ.get(RUN_DIR_ENV)
    run_dir = Path(chosen) if chosen else latest_run_dir(Path.cwd())
    return run_dir_files(run_dir.resolve()), "python -m pipeline.train"


@stage
def main(settings: Settings, launch: Launch) -> None:
    files, make_it = stage_files(settings, launch)
    run_evaluation(settings, files, make_it)


if __name__ == "__main__":
    main()
    exit_without_teardown()  # TensorFlow's interpreter teardown outputs nothing and takes seconds
