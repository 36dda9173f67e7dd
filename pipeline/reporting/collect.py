"""Collect training runs for the comparison: the DVC matrix outputs (`metrics/`, `plots/`) of every
rate in `sweep.rates` with every seed in `sweep.seeds` (`collect_dvc`), or MLflow runs: a sweep
parent's children, every training run of an experiment (`collect_mlflow`). Each becomes a
`RunResult`, whatever its source, with every number its files or run hold; the report shows those
the metrics' declarations label (`pipeline.training.epoch_metrics`, `pipeline.evaluation.scorecard`).
Which runs make a batch (a sweep, a preset's DVC batch) is `pipeline.reporting.run_batches`' job.
No TensorFlow import; MLflow only through `pipeline.tracking`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.columns import Shown
from pipeline.core.errors import UserError
from pipeline.core.layout import item_files
from pipeline.core.matrix import matrix_label
from pipeline.evaluation.scorecard import TEST_METRICS
from pipeline.reporting.run_batches import newest_sweep
from pipeline.tracking.store import Store, TrackedRun
from pipeline.tracking.tags import TAG_ENV_PREFIX
from pipeline.training.epoch_metrics import EPOCH_METRICS, HISTORY_KEYS, VAL_PREFIX


def _shown() -> list[tuple[str, Shown, bool]]:
    """(key, column, Monte-Carlo?) of every number the report shows, in its columns' order: each
    per-epoch metric's last validation value and each test metric that has a label."""
    found = [(VAL_PREFIX + m.name, m.shown, False) for m in EPOCH_METRICS if m.shown]
    found += [(m.key, m.shown, m.mc) for m in TEST_METRICS if m.shown]
    return sorted(found, key=lambda item: item[1].at)


SHOWN = {key: shown for key, shown, _ in _shown()}
# Every complete run has these; a run without one of them is listed as incomplete.
REQUIRED = tuple(key for key, _, mc in _shown() if not mc)
# Only models with dropout have Monte-Carlo numbers (and only when eval.mc_samples > 0).
OPTIONAL = tuple(key for key, _, mc in _shown() if mc)
RELIABILITY_ARTIFACT = "eval/reliability.csv"
MAIN_RATE = "model.dropout.rate"


@dataclass(frozen=True)
class RunResult:
    """One training run as the report sees it, whatever the source."""

    name: str  # MLflow run id, or the DVC matrix label (rate_0.2)
    rate: float | None
    seed: int | None
    train_size: int | None
    status: str  # MLflow's FINISHED / FAILED / KILLED / RUNNING, or MISSING (no DVC outputs)
    metrics: Mapping[str, float] = field(default_factory=dict)
    history: pd.DataFrame | None = None
    reliability: pd.DataFrame | None = None
    # What the run's numbers depend on beyond config and seed (pipeline.core.environment); empty
    # for DVC outputs, which carry none.
    environment: Mapping[str, str] = field(default_factory=dict)
    # The model's other dropout rates (`model.dropout.input_rate`, a CNN's
    # `model.feature_dropout.rate`...) by config key: runs that differ in them are compared apart.
    dropout: Mapping[str, float] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        return [key for key in REQUIRED if key not in self.metrics]

    @property
    def complete(self) -> bool:
        return self.status == "FINISHED" and self.rate is not None and not self.missing


def _read_json(path: Path) -> dict[str, float]:
    """Top-level numbers of a metrics JSON (nested per-class values are not table material)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _read_csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.exists() else None


def collect_dvc(
    root: Path, rates: Sequence[float], seeds: Sequence[int], train_size: int | None = None
) -> list[RunResult]:
    """The DVC matrix outputs under `root` of every rate with every seed (params.yaml's `sweep.rates`
    and `sweep.seeds`): outputs of items no longer swept are left out, and a swept item without
    outputs is reported as MISSING. The train size is the pipeline's own."""
    results = []
    for rate, seed in product(rates, seeds):
        files = item_files(rate, seed, root)
        label = matrix_label(rate, seed)
        if not (files.train_metrics.exists() or files.eval_metrics.exists()):
            results.append(RunResult(label, rate, seed, train_size, "MISSING"))
            continue
        values = _read_json(files.train_metrics) | _read_json(files.eval_metrics)
        history = _read_csv(files.history)
        reliability = _read_csv(files.plots_dir / "reliability.csv")
        results.append(RunResult(label, rate, seed, train_size, "FINISHED", values, history, reliability))
    return results


def latest_sweep(store: Store, experiment: str) -> str:
    """The id of the most recently started sweep parent run in `experiment` (the comparison's default)."""
    found = newest_sweep(store, experiment)
    if found is None:
        raise UserError(
            f"no sweep in MLflow experiment {experiment!r}: run one with "
            "`python -m pipeline.train -m model.dropout.rate=0,0.2,0.5 train.seed=1,2,3`, "
            f"or compare all its runs with `python -m pipeline.report report.experiment={experiment}`"
        )
    return found.run_id


def collect_mlflow(
    store: Store, parent_run_id: str | None = None, experiment: str | None = None
) -> list[RunResult]:
    """The children of a sweep's parent run, or every training run of an experiment."""
    if parent_run_id is not None:
        store.run(parent_run_id)  # a UserError naming the store when there is no such run
        runs = store.child_runs(parent_run_id)
    elif experiment is not None:
        runs = store.training_runs(experiment)
    else:
        raise ValueError("give a parent run id or an experiment name")
    return results_of(store, runs)


def results_of(store: Store, runs: Iterable[TrackedRun]) -> list[RunResult]:
    """Runs as the comparison sees them, with their per-epoch history and reliability table."""
    return [_from_mlflow(store, run) for run in runs]


def _param(params: Mapping[str, str], key: str, kind: type) -> Any:
    """A logged param as `kind`; None when absent or logged as None (e.g. data.train_size)."""
    text = params.get(key)
    return None if text in (None, "None", "null") else kind(float(text) if kind is int else text)


def _from_mlflow(store: Store, run: TrackedRun) -> RunResult:
    params = run.params
    return RunResult(
        name=run.run_id,
        rate=_param(params, MAIN_RATE, float),
        seed=_param(params, "train.seed", int),
        train_size=_param(params, "data.train_size", int),
        status=run.status,
        metrics=dict(run.metrics),
        history=store.history(run.run_id, HISTORY_KEYS),
        reliability=store.csv_artifact(run.run_id, RELIABILITY_ARTIFACT),
        environment={
            key.removeprefix(TAG_ENV_PREFIX): value
            for key, value in run.tags.items()
            if key.startswith(TAG_ENV_PREFIX)
        },
        dropout=other_rates(params),
    )


def other_rates(params: Mapping[str, str]) -> dict[str, float]:
    """The model's dropout rates besides `model.dropout.rate`: its params under `model.` whose
    last part ends in `rate` (a model's own dropout keys are named so)."""
    return {
        key: float(value)
        for key, value in params.items()
        if key.startswith("model.") and key.rpartition(".")[2].endswith("rate") and key != MAIN_RATE
        and value not in ("None", "null")
    }  # fmt: skip
