"""One trained model evaluated on the test set into the MLflow run that trained it (found by the
training's hand-over; never a new run), with the training's learning curves: what the evaluate
stage, the API and the conf/ runs' Hydra callback call. A model whose run this store lacks (one
from `dvc pull`) is evaluated into its files only. Its last lines are what a user looks for after a
training: test accuracy, the MLflow run and how to open it, and where the files are.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.core.config import Settings
from pipeline.core.errors import UserError
from pipeline.core.layout import RunFiles
from pipeline.core.paths import shown
from pipeline.data.processed import ProcessedData
from pipeline.evaluation.plots import learning_curves
from pipeline.evaluation.scoring import (
    Evaluation,
    evaluate_model,
    flat_metrics,
    load_trained,
    read_run_info,
    write_evaluation,
)
from pipeline.tracking import active_run, record
from pipeline.tracking.store import Store

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)


def evaluate_tracked(
    settings: Settings,
    data: ProcessedData,
    files: RunFiles,
    make_it: str,
    model: keras.Model | None = None,
    line_prefix: str = "",
) -> Evaluation:
    """Evaluate the model in `files` (or `model`, the same one in memory) on `data`, write its files
    and log them into its training's run. `make_it` is the command that trains it (for errors);
    `line_prefix` starts the last lines (a sweep job's label)."""
    info = read_run_info(files, make_it)
    if data.fingerprint != info["data_fingerprint"]:
        raise UserError(
            f"the model in {files.model_dir} was trained on data {info['data_fingerprint']}, but "
            f"the data of these settings is {data.fingerprint}: retrain, or compose the "
            "data config it was trained with"
        )
    history = pd.read_csv(files.history)
    model = model if model is not None else load_trained(files.model, make_it)
    evaluation = evaluate_model(model, data, history, settings.eval, int(info["seed"]))
    written = write_evaluation(evaluation, files)
    trained_in = active_run.trained_in(files.mlflow_run)
    if trained_in is not None:
        with active_run.joined_run(*trained_in):
            record.log_evaluation(flat_metrics(evaluation.metrics), written)
            record.log_figure(learning_curves({"this run": history}), "learning_curves.png")
    else:
        log.warning(
            "%sthe MLflow run that trained %s is not known here (%s): metrics written to %s only",
            line_prefix, files.model, files.mlflow_run, files.eval_metrics,
        )  # fmt: skip
    log.info("%s%s", line_prefix, summary_line(evaluation.metrics))
    if trained_in is not None:
        run_id, uri = trained_in
        log.info("%sMLflow run %s: %s", line_prefix, run_id, Store(uri).run_page(run_id))
    log.info("%sfiles: %s", line_prefix, ", ".join(shown(path) for path in places(files)))
    return evaluation


def summary_line(values: dict[str, Any]) -> str:
    """Test accuracy first (and MC dropout's, when computed), then what says how it generalises."""
    mc = values["mc_samples"]
    mc_accuracy = f", MC-dropout accuracy {values['mc_accuracy']:.4f} ({mc} passes)" if mc else ""
    mc_ece = f" (MC {values['mc_ece']:.4f})" if mc else ""
    return (
        f"test accuracy {values['test_accuracy']:.4f}{mc_accuracy}; gap {values['overfit_gap']:+.4f}, "
        f"best epoch {values['best_epoch']}, ECE {values['test_ece']:.4f}{mc_ece}, "
        f"NLL {values['test_nll']:.4f}"
    )


def places(files: RunFiles) -> list[Path]:
    """The folders and files a run wrote, each once: a folder stands for what lies inside it (a
    Hydra run keeps them all in its folder; a DVC matrix item spreads them over dvc.yaml's paths)."""
    paths = [files.model_dir, files.eval_metrics, files.plots_dir, files.train_metrics, files.history,
             files.confusion]  # fmt: skip
    kept: list[Path] = []
    for path in paths:
        if not any(path == folder or folder in path.parents for folder in kept):
            kept.append(path)
    return kept
