"""Evaluate one trained model on the test set: the numbers, the files they go to (no tracking).

Computes every metric of the scorecard (`pipeline.evaluation.scorecard`: accuracy, calibration,
the overfitting gap, the epoch of lowest validation loss...), per-class accuracy and confusion and,
when the model has dropout, Monte-Carlo dropout beside the deterministic (weight-scaling) prediction.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline.core.atomic import write_json_atomic, write_text_atomic
from pipeline.core.config import EvalConfig
from pipeline.core.errors import UserError
from pipeline.core.layout import RunFiles
from pipeline.evaluation import metrics
from pipeline.evaluation.inference import BatchedForward
from pipeline.evaluation.metrics import ReliabilityBins
from pipeline.evaluation.scorecard import Scored, scores

if TYPE_CHECKING:
    import keras

    from pipeline.data.processed import ProcessedData

log = logging.getLogger(__name__)

BATCH_SIZE = 2048
RELIABILITY_CSV = "reliability.csv"
RELIABILITY_PNG = "reliability.png"
CONFUSION_PNG = "confusion.png"


@dataclass(frozen=True)
class Evaluation:
    """Everything one evaluation produced: the metrics JSON and what the files and plots need."""

    metrics: dict[str, Any]
    labels: np.ndarray
    predicted: np.ndarray
    confusion: np.ndarray
    reliability: ReliabilityBins
    mc_reliability: ReliabilityBins | None


def predict_probs(
    model: keras.Model, x: np.ndarray, training: bool = False, batch_size: int = BATCH_SIZE
) -> np.ndarray:
    """Class probabilities of uint8 images `x` in batches; `training=True` keeps dropout active
    (one MC pass)."""
    return _checked(BatchedForward(model, x, batch_size)(training))


def _checked(probs: np.ndarray) -> np.ndarray:
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("the model must output class probabilities (a softmax last layer)")
    return probs


def reseed_dropout(model: keras.Model, seed: int) -> None:
    """Make the next dropout masks a function of `seed` alone.

    Keras layers draw masks from their own SeedGenerator, whose state is a model variable that
    advances with every call (and is restored by load_model); resetting it, besides the global
    seed, makes repeated MC evaluations of the same model give the same numbers.
    """
    import keras

    keras.utils.set_random_seed(seed)
    states = [v for v in model.variables if v.name == "seed_generator_state"]
    for index, state in enumerate(states):
        state.assign(keras.ops.convert_to_tensor([seed + 7919 * index, 0], dtype=state.dtype))


def mc_dropout_passes(
    model: keras.Model, x: np.ndarray, samples: int, seed: int, batch_size: int = BATCH_SIZE
) -> np.ndarray:
    """`samples` stochastic forward passes with dropout on, over uint8 images `x`: shape
    (samples, N, classes).

    The layers before the first dropout layer run once, not once per pass (see pipeline.evaluation.inference).
    """
    forward = BatchedForward(model, x, batch_size)
    reseed_dropout(model, seed)
    return np.stack([_checked(forward(training=True)) for _ in range(samples)])


def evaluate_model(
    model: keras.Model, data: ProcessedData, history: pd.DataFrame, eval_cfg: EvalConfig, seed: int
) -> Evaluation:
    """Every test metric of the scorecard (`pipeline.evaluation.scorecard`) for one trained model,
    with the per-class accuracy and, for a model with dropout, the MC-dropout prediction scored the
    same way (plain function: arrays and config in)."""
    from pipeline.model.blocks import has_dropout

    probs = predict_probs(model, data.x_test)
    labels = np.asarray(data.y_test)
    num_classes = probs.shape[1]
    predicted = probs.argmax(axis=1)
    train_probs = predict_probs(model, data.x_train)
    scored = Scored(probs, labels, train_probs, np.asarray(data.y_train), history, eval_cfg)
    passes = None
    if eval_cfg.mc_samples > 0 and has_dropout(model):
        passes = mc_dropout_passes(model, data.x_test, eval_cfg.mc_samples, seed)
        scored = replace(scored, mc=passes.mean(axis=0))
    out: dict[str, Any] = {
        **scores(scored),
        "mc_samples": 0 if passes is None else eval_cfg.mc_samples,
        "per_class_accuracy": _per_class(metrics.per_class_accuracy(predicted, labels, num_classes)),
    }
    if passes is not None and eval_cfg.mc_curve:  # test error of the average of the first k passes
        curve = metrics.mc_error_curve(passes, labels, eval_cfg.mc_curve)
        out["mc_curve_error"] = {str(k): error for k, error in zip(eval_cfg.mc_curve, curve, strict=True)}
    reliability = metrics.reliability_bins(probs, labels, eval_cfg.ece_bins)
    mc_reliability = (
        None if scored.mc is None else metrics.reliability_bins(scored.mc, labels, eval_cfg.ece_bins)
    )
    confusion = metrics.confusion_matrix(predicted, labels, num_classes)
    return Evaluation(_rounded(out), labels, predicted, confusion, reliability, mc_reliability)


def _per_class(values: np.ndarray) -> dict[str, float | None]:
    """JSON has no NaN: a class absent from the test set gets null."""
    return {str(k): None if np.isnan(v) else float(v) for k, v in enumerate(values)}


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    """Six decimals: enough for any comparison, and diffs in `dvc metrics diff` stay readable."""

    def one(value: Any) -> Any:
        if isinstance(value, dict):
            return _rounded(value)
        return round(value, 6) if isinstance(value, float) else value

    return {key: one(value) for key, value in values.items()}


def flat_metrics(values: dict[str, Any]) -> dict[str, float]:
    """Dotted keys for MLflow (`per_class_accuracy.3`); nulls are left out."""
    flat: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat |= {f"{key}.{k}": v for k, v in flat_metrics(value).items()}
        elif value is not None:
            flat[key] = float(value)
    return flat


def reliability_table(bins: metrics.ReliabilityBins) -> pd.DataFrame:
    """Per-bin table the report pools over seeds (empty bins kept, with count 0)."""
    return pd.DataFrame(
        {
            "lower": bins.lower,
            "upper": bins.upper,
            "confidence": bins.confidence,
            "accuracy": bins.accuracy,
            "count": bins.count,
        }
    )


def write_evaluation(evaluation: Evaluation, files: RunFiles) -> list[Path]:
    """Metrics JSON, DVC's confusion CSV (one row per test sample), PNGs; return the written files."""
    from pipeline.evaluation.plots import confusion_plot, reliability_diagram, save_figure

    write_json_atomic(files.eval_metrics, evaluation.metrics)
    confusion = pd.DataFrame({"actual": evaluation.labels, "predicted": evaluation.predicted})
    write_text_atomic(files.confusion, confusion.to_csv(index=False))
    reliability_csv = files.plots_dir / RELIABILITY_CSV
    write_text_atomic(reliability_csv, reliability_table(evaluation.reliability).to_csv(index=False))
    curves = {"deterministic (weight scaling)": evaluation.reliability}
    if evaluation.mc_reliability is not None:
        curves[f"MC dropout ({evaluation.metrics['mc_samples']} passes)"] = evaluation.mc_reliability
    save_figure(reliability_diagram(curves), files.plots_dir / RELIABILITY_PNG)
    save_figure(confusion_plot(evaluation.confusion), files.plots_dir / CONFUSION_PNG)
    return [
        files.eval_metrics,
        files.confusion,
        reliability_csv,
        files.plots_dir / RELIABILITY_PNG,
        files.plots_dir / CONFUSION_PNG,
    ]


# What `run.json` must hold for an evaluation of its model.
RUN_INFO_KEYS = ("data_fingerprint", "seed")


def read_run_info(files: RunFiles, make_it: str) -> dict[str, Any]:
    """What the model was trained on and with (`run.json`: data fingerprint, rate, seed), or a
    UserError naming the command that makes it."""
    for needed in (files.model, files.run_info, files.history):
        if not needed.exists():
            raise UserError(f"no trained model: {needed} is missing. Make it with: {make_it}")
    try:
        info = json.loads(files.run_info.read_text())
        missing = [key for key in RUN_INFO_KEYS if key not in info]
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"{files.run_info} is damaged ({exc}). Make it again with: {make_it}") from None
    if missing:
        raise UserError(f"{files.run_info} lacks {', '.join(missing)}. Make it again with: {make_it}")
    return info


def load_trained(path: Path, make_it: str = "python -m pipeline.train") -> keras.Model:
    """Load a `.keras` model, with our custom dropout layer registered first; a damaged file is
    a UserError naming it (Keras says only that some zip entry or layer config is wrong)."""
    import keras

    import pipeline.model.layers  # noqa: F401  (registers ScratchDropout for deserialization)

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:
        raise UserError(
            f"{path} is not a readable Keras model ({type(exc).__name__}: {exc}). "
            f"Make it again with: {make_it}"
        ) from None
