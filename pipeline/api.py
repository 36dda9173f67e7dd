"""The pipeline from Python (a notebook, a script), without Hydra's command line.

    from pipeline import api

    settings = api.compose(["data.train_size=2000", "train.epochs=10"])
    data = api.load_data(settings)
    runs = {rate: api.train(api.with_rate(settings, rate), data) for rate in (0.0, 0.5)}
    api.evaluate(runs[0.5], data)["test_accuracy"]
    api.compare(runs).figure

The same functions the stages call: `compose` is `conf/` composed and validated as every stage does;
`train(tracked=False)` is `pipeline.training.loop.build_and_fit` (no MLflow); `train(tracked=True)`
is the train stage's own path (`pipeline.runs.tracked_training`: an MLflow run, files in a run
folder), then the evaluation into that run (`pipeline.runs.tracked_evaluation`). See docs/api.md.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.core.config import Settings
from pipeline.core.layout import run_dir_files
from pipeline.core.params import composed_settings
from pipeline.core.paths import project_path
from pipeline.data.build import load_for
from pipeline.data.processed import ProcessedData
from pipeline.model.dropout import Dropout
from pipeline.training.loop import TrainResult

if TYPE_CHECKING:
    import keras
    from matplotlib.figure import Figure

__all__ = [
    "Comparison",
    "Dropout",
    "Run",
    "compare",
    "compose",
    "evaluate",
    "load_data",
    "train",
    "with_rate",
]


@dataclass
class Run:
    """One training: its config, fitted model and per-epoch history; `run_id` and `files` when tracked."""

    settings: Settings
    result: TrainResult
    run_id: str | None = None
    folder: Path | None = None

    @property
    def model(self) -> keras.Model:
        return self.result.model

    @property
    def history(self) -> pd.DataFrame:
        return self.result.history

    @property
    def label(self) -> str:
        return f"rate {self.settings.model.dropout.rate:g}"


@dataclass
class Comparison:
    """Runs side by side: final numbers per run, the learning curves and the opening finding."""

    table: pd.DataFrame
    figure: Figure
    finding: str

    def _repr_markdown_(self) -> str:  # Jupyter shows the finding
        return self.finding

    def png(self) -> bytes:
        """The learning curves as PNG bytes (`IPython.display.Image(comparison.png())`)."""
        from pipeline.evaluation.plots import png_bytes

        return png_bytes(self.figure)


def compose(overrides: Sequence[str] = ()) -> Settings:
    """`conf/` composed with Hydra overrides (`["train.epochs=10", "experiment=quick"]`) and
    validated: a bad value raises `ConfigError` naming the key, the value and what is allowed."""
    return composed_settings(list(overrides))


def with_rate(settings: Settings, rate: float) -> Settings:
    """The same settings with another dropout rate (the probability of DROPPING a unit)."""
    dropout = settings.model.dropout.model_copy(update={"rate": rate})
    model = settings.model.model_copy(update={"dropout": dropout})
    return Settings.model_validate({**settings.model_dump(), "model": model.model_dump()})


def load_data(settings: Settings, download: bool = True) -> ProcessedData:
    """The arrays the config asks for (`data.name`, `data.train_size`, `data.val_fraction`...),
    from the project's files; downloads the raw files first when they are missing and `download`."""
    raw = project_path("data", "raw", settings.data.name)
    processed = project_path("data", "processed", f"{settings.data.name}.npz")
    if download and not raw.is_dir() and not processed.is_file():
        from pipeline.data.fetch import download_dataset

        download_dataset(settings.data, raw)
    return load_for(settings.data, project_path())


def train(
    settings: Settings, data: ProcessedData | None = None, tracked: bool = False, folder: Path | None = None
) -> Run:
    """Train one config. Untracked (default): in memory, no MLflow; files only if `folder` is given.
    Tracked: an MLflow run like `python -m pipeline.train`'s (store: `tracking.uri`), with its files
    in `folder` (default `outputs/api/<time>/`) and the test set evaluated inside the run.
    One line per epoch when `train.progress` is true."""
    data = data if data is not None else load_data(settings)
    if tracked:
        from pipeline.process.launch import Launch, Source
        from pipeline.runs.tracked_evaluation import evaluate_tracked
        from pipeline.runs.tracked_training import train_tracked
        from pipeline.tracking import reconcile

        folder = Path(folder or project_path("outputs", "api", time.strftime("%Y-%m-%d_%H-%M-%S")))
        files = run_dir_files(folder)
        reconcile.reconcile(settings.tracking)
        run_id, result = train_tracked(settings, data, Launch(Source.HYDRA, output_dir=folder), files)
        evaluate_tracked(settings, data, files, "pipeline.api.train", model=result.model)
        return Run(settings, result, run_id, folder)
    from pipeline.training.loop import build_and_fit

    result = build_and_fit(settings, data)
    if folder:
        from pipeline.training.outputs import write_outputs

        write_outputs(result, run_dir_files(Path(folder)), settings, data)
    return Run(settings, result, None, Path(folder) if folder else None)


def evaluate(run: Run, data: ProcessedData) -> dict[str, Any]:
    """The test-set metrics the evaluate stage writes (accuracy, loss, gap, calibration, per class,
    MC dropout when `eval.mc_samples` > 0), for a run's model."""
    from pipeline.evaluation.scoring import evaluate_model

    settings = run.settings
    return evaluate_model(run.model, data, run.history, settings.eval, settings.train.seed).metrics


def compare(runs: Mapping[Any, Run] | Sequence[Run]) -> Comparison:
    """Runs side by side, lowest dropout rate first: a table of each one's last epoch, the learning
    curves (loss and accuracy, train and validation) and the report's finding (does it overfit?)."""
    from pipeline.evaluation.plots import learning_curves
    from pipeline.reporting.finding import CurveFacts, curve_facts, finding_markdown
    from pipeline.training.loop import final_metrics

    listed = list(runs.values()) if isinstance(runs, Mapping) else list(runs)
    listed.sort(key=lambda run: run.settings.model.dropout.rate)
    histories = {run.label: run.history for run in listed}
    curves: dict[str, list[CurveFacts]] = {}
    for run in listed:
        curves.setdefault(run.label, []).append(curve_facts(run.label, run.history))
    baseline = next((run.label for run in listed if run.settings.model.dropout.rate == 0.0), None)
    table = pd.DataFrame({run.label: final_metrics(run.history) for run in listed}).T
    table.index.name = "dropout"
    finding = finding_markdown(curves, baseline=baseline)
    return Comparison(table, learning_curves(histories, "dropout rate"), finding)
