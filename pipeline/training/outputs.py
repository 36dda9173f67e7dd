"""A training's files, each written atomically: the model (byte-reproducible), what it was trained
on, the per-epoch history and the last epoch's metrics (rewritten every epoch, so `dvc exp show`
follows a running training). Under DVC they are the train stage's outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from pipeline.core.atomic import write_json_atomic, write_text_atomic
from pipeline.core.config import Settings
from pipeline.core.layout import RunFiles
from pipeline.training.epoch_metrics import HISTORY_COLUMNS
from pipeline.training.loop import EpochHook, TrainResult, final_metrics

if TYPE_CHECKING:
    from pipeline.data.processed import ProcessedData


def write_outputs(result: TrainResult, files: RunFiles, settings: Settings, data: ProcessedData) -> None:
    """Model, run info (data fingerprint, rate, impl, seed: no run id), history and final metrics."""
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


def write_history(history: pd.DataFrame, files: RunFiles) -> None:
    """The per-epoch history (CSV for `dvc plots`) and the last epoch's metrics (JSON for `dvc metrics`).
    Metrics first: whoever sees epoch k in the history finds metrics of epoch k or later."""
    write_json_atomic(files.train_metrics, final_metrics(history))
    write_text_atomic(files.history, history.to_csv(index=False, float_format="%.6f"))


def history_writer(files: RunFiles, done: list[dict[str, float]]) -> EpochHook:
    """An epoch hook that rewrites the history and metrics with the epochs so far (`done`: those a
    resumed run's checkpoint holds), with the same writer and rows as the final write."""
    rows = list(done)

    def write_epoch(row: dict[str, float], seconds: float) -> None:
        rows.append(row)
        write_history(pd.DataFrame(rows, columns=HISTORY_COLUMNS), files)

    return write_epoch
