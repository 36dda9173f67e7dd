"""Evaluate one trained model on the test set: `python -m pipeline.evaluate` (Hydra app, DVC stage).

Measures test loss/accuracy, per-class accuracy and confusion, the overfitting gap, the epoch of
lowest validation loss, calibration (ECE, NLL) and, when the model has dropout, Monte-Carlo dropout
beside the deterministic (weight-scaling) prediction. The numbers go to metrics JSON for DVC and
into the MLflow run that trained the model (its id travels in `run.json`), never into a new run.

Which model: under DVC (`--config-name params model.dropout.rate=<rate>`) the matrix paths of that
rate; interactively the folder in DROPOUT_LAB_RUN_DIR, else the newest training run under
`outputs/` or `multirun/`. TensorFlow is imported only after the config has been validated.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline import metrics, tracking
from pipeline.atomic import write_json_atomic, write_text_atomic
from pipeline.config import EvalConfig, Settings, project_path
from pipeline.errors import UserError
from pipeline.inference import BatchedForward
from pipeline.launch import Launch
from pipeline.layout import RunFiles, dvc_files, run_dir_files
from pipeline.quick_exit import exit_without_teardown
from pipeline.stage import stage

if TYPE_CHECKING:
    import keras

    from pipeline.preprocess import ProcessedData

log = logging.getLogger(__name__)

RUN_DIR_ENV = "DROPOUT_LAB_RUN_DIR"
ARTIFACT_DIR = "eval"  # where evaluation files go inside the MLflow run
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
    reliability: metrics.ReliabilityBins
    mc_reliability: metrics.ReliabilityBins | None


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

    The layers before the first dropout layer run once, not once per pass (see pipeline.inference).
    """
    forward = BatchedForward(model, x, batch_size)
    reseed_dropout(model, seed)
    return np.stack([_checked(forward(training=True)) for _ in range(samples)])


def evaluate_model(
    model: keras.Model, data: ProcessedData, history: pd.DataFrame, eval_cfg: EvalConfig, seed: int
) -> Evaluation:
    """All evaluation numbers of one trained model (plain function: arrays and config in).

    Train accuracy is measured again in inference mode on the whole training split: the history's
    `accuracy` is a running mean over an epoch with dropout active, which understates it.
    """
    from pipeline.model import has_dropout

    probs = predict_probs(model, data.x_test)
    labels = np.asarray(data.y_test)
    num_classes = probs.shape[1]
    predicted = probs.argmax(axis=1)
    train_accuracy = metrics.accuracy(predict_probs(model, data.x_train), data.y_train)
    test_accuracy = metrics.accuracy(probs, labels)
    reliability = metrics.reliability_bins(probs, labels, eval_cfg.ece_bins)
    test_nll = metrics.nll(probs, labels)
    out: dict[str, Any] = {
        # The training loss (cross-entropy) on the test set; for this model it is the NLL.
        "test_loss": test_nll,
        "test_nll": test_nll,
        "test_accuracy": test_accuracy,
        "test_ece": reliability.ece(),
        "test_entropy": metrics.predictive_entropy(probs),
        "train_accuracy": train_accuracy,
        "train_accuracy_running": float(history["accuracy"].iloc[-1]),
        "overfit_gap": metrics.overfitting_gap(train_accuracy, test_accuracy),
        "best_epoch": metrics.best_epoch(history["val_loss"]),
        "best_val_loss": float(history["val_loss"].min()),
        "val_loss_rise": metrics.val_loss_rise(history["val_loss"]),
        "mc_samples": 0,
        "per_class_accuracy": _per_class(metrics.per_class_accuracy(predicted, labels, num_classes)),
    }
    mc_reliability = None
    if eval_cfg.mc_samples > 0 and has_dropout(model):
        mc_values, mc_reliability = _mc_metrics(model, data.x_test, labels, eval_cfg, seed)
        out |= mc_values
    confusion = metrics.confusion_matrix(predicted, labels, num_classes)
    return Evaluation(_rounded(out), labels, predicted, confusion, reliability, mc_reliability)


def _mc_metrics(
    model: keras.Model, x: np.ndarray, labels: np.ndarray, eval_cfg: EvalConfig, seed: int
) -> tuple[dict[str, Any], metrics.ReliabilityBins]:
    """The MC-dropout prediction (mean of the passes) scored like the deterministic one."""
    passes = mc_dropout_passes(model, x, eval_cfg.mc_samples, seed)
    mean = passes.mean(axis=0)
    bins = metrics.reliability_bins(mean, labels, eval_cfg.ece_bins)
    values = {
        "mc_samples": eval_cfg.mc_samples,
        "mc_accuracy": metrics.accuracy(mean, labels),
        "mc_nll": metrics.nll(mean, labels),
        "mc_ece": bins.ece(),
        "mc_entropy": metrics.predictive_entropy(mean),
    }
    if eval_cfg.mc_curve:  # test error of the average of the first k passes, keyed by k
        curve = metrics.mc_error_curve(passes, labels, eval_cfg.mc_curve)
        values["mc_curve_error"] = {str(k): error for k, error in zip(eval_cfg.mc_curve, curve, strict=True)}
    return values, bins


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
    from pipeline.plots import confusion_plot, reliability_diagram, save_figure

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


def log_evaluation(evaluation: Evaluation, written: list[Path]) -> None:
    """Metrics and files into the ACTIVE MLflow run (the training run, joined or still open)."""
    tracking.log_metrics(flat_metrics(evaluation.metrics))
    tracking.log_files(written, ARTIFACT_DIR)


def evaluate_and_log(
    model: keras.Model,
    data: ProcessedData,
    history: pd.DataFrame,
    eval_cfg: EvalConfig,
    seed: int,
    files: RunFiles,
) -> Evaluation:
    """Evaluate, write the files, log into the active run: what a training can call inside its run."""
    evaluation = evaluate_model(model, data, history, eval_cfg, seed)
    log_evaluation(evaluation, write_evaluation(evaluation, files))
    return evaluation


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


def training_run(files: RunFiles) -> tuple[str, str] | None:
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
    return (run_id, uri) if tracking.Store(uri).has_run(run_id) else None


def load_trained(path: Path, make_it: str = "python -m pipeline.train") -> keras.Model:
    """Load a `.keras` model, with our custom dropout layer registered first; a damaged file is
    a UserError naming it (Keras says only that some zip entry or layer config is wrong)."""
    import keras

    import pipeline.layers  # noqa: F401  (registers ScratchDropout for deserialization)

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:
        raise UserError(
            f"{path} is not a readable Keras model ({type(exc).__name__}: {exc}). "
            f"Make it again with: {make_it}"
        ) from None


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
    from pipeline.preprocess import load_for

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
    trained_in = training_run(files)
    if trained_in is not None:
        with tracking.joined_run(*trained_in):
            log_evaluation(evaluation, written)
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


def stage_files(launch: Launch) -> tuple[RunFiles, str]:
    """The run to evaluate and the command that makes it: DVC matrix paths, or an interactive run."""
    if launch.under_dvc:
        rate = launch.require_dvc_rate()
        return dvc_files(rate), f"dvc repro train@{rate}"
    chosen = os.environ.get(RUN_DIR_ENV)
    run_dir = Path(chosen) if chosen else latest_run_dir(Path.cwd())
    return run_dir_files(run_dir.resolve()), "python -m pipeline.train"


@stage
def main(settings: Settings, launch: Launch) -> None:
    files, make_it = stage_files(launch)
    run_evaluation(settings, files, make_it)


if __name__ == "__main__":
    main()
    exit_without_teardown()  # TensorFlow's interpreter teardown outputs nothing and takes seconds
