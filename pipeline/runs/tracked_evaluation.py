"""One trained model evaluated on the test set into the MLflow run that trained it (found by the
training's hand-over; never a new run), with the training's learning curves: what the evaluate
stage, the API and the conf/ runs' Hydra callback call. A model whose run this store lacks (one
from `dvc pull`) is evaluated into its files only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.core.config import Settings
from pipeline.core.errors import UserError
from pipeline.core.layout import RunFiles
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

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)


def evaluate_tracked(
    settings: Settings, data: ProcessedData, files: RunFiles, make_it: str, model: keras.Model | None = None
) -> Evaluation:
    """Evaluate the model in `files` (or `model`, the same one in memory) on `data`, write its files
    and log them into its training's run. `make_it` is the command that trains it (for errors)."""
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
