"""The project's training timed from the inside, as the benchmarks' children run it: the config
composed from conf/, the workspace's processed data, `build_and_fit`, each epoch's time as the
project measures it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.harness.workspace import settings_for

if TYPE_CHECKING:
    from pipeline.core.config import Settings
    from pipeline.data.processed import ProcessedData
    from pipeline.training.loop import TrainResult


@dataclass(frozen=True)
class TimedFit:
    result: TrainResult
    data: ProcessedData
    epoch_seconds: list[float]
    fit_seconds: float  # build_and_fit's wall time: set-up and tracing included


def settings_and_data(overrides: Sequence[str]) -> tuple[Settings, ProcessedData]:
    """The default config with `overrides` (no progress lines) and the workspace's data for it."""
    from pipeline.core.paths import project_path
    from pipeline.data.build import load_for

    settings = settings_for([*overrides, "train.progress=false"])
    return settings, load_for(settings.data, project_path())


def timed_fit(overrides: Sequence[str]) -> TimedFit:
    """One training of the default config with `overrides` (silent: no progress lines)."""
    import keras  # noqa: F401  (TensorFlow's import is not training time; the seed loop's isn't timed either)

    from pipeline.training.loop import build_and_fit

    settings, data = settings_and_data(overrides)
    seconds: list[float] = []
    start = time.perf_counter()
    result = build_and_fit(settings, data, on_epoch=[lambda row, took: seconds.append(took)])
    return TimedFit(result, data, seconds, time.perf_counter() - start)
