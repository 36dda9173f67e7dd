"""The paper's figures and table from the tracking store (`python -m pipeline.paper_report`).

Reads the latest batch of each paper preset (`tracking.*`, or MLFLOW_TRACKING_URI) and writes the
table and figures of `pipeline.reporting.paper` into `report.out_dir` (default `reports/paper/`). A batch is

- a Hydra sweep (`python -m pipeline.train -m experiment=paper_rates`): its parent run records the
  command-line overrides (`sweep.overrides`), which name the preset; its children are the batch;
- a DVC batch (`dvc exp run -S experiment=paper_rates`, queued or not, or `dvc repro`): the training
  runs DVC stages made whose param `tracking.preset` (set by every preset) names the preset and whose
  baseline commit (tag `dropout_lab.dvc_baseline`: DVC_EXP_BASELINE_REV, shared by every experiment
  queued from one commit; the commit itself under `dvc repro`) is the same.

A preset's latest batch is the one with the most recently started training run: its latest Hydra
sweep or the DVC batch of its newest DVC run, never a mix. Within a batch, a config point (rate,
input rate, training-set size, net, max-norm) run twice with the same seed counts once: the newer run
(an experiment queued again after it failed, say). A batch's time is its parent's wall-clock time
(Hydra) or from its first run's start to its last run's end (DVC); none while a run is going.

    MLFLOW_TRACKING_URI=sqlite:////work/paper-runs/mlflow.db python -m pipeline.paper_report
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.config import Settings, TrackingConfig, project_path
from pipeline.reporting.paper import PRESETS, PresetRun, preset_of, row_of, runs_frame, write_paper_report
from pipeline.tracking import client as tracking
from pipeline.tracking.client import TrackedRun

log = logging.getLogger(__name__)

PRESET_PARAM = "tracking.preset"
# What makes two runs the same point of a figure, and the seed: runs equal on all of these repeat one.
POINT_PARAMS = (
    "model.dropout.rate", "model.dropout.input_rate", "data.train_size", "model.hidden_units",
    "model.max_norm", "train.seed",
)  # fmt: skip


@dataclass(frozen=True)
class Batch:
    """The training runs of one Hydra sweep or one DVC baseline, and its wall-clock seconds."""

    runs: list[TrackedRun]
    seconds: float | None
    # When its newest run (or, for a sweep without runs yet, its parent) started, in ms.
    last_start_ms: int


def latest_preset_runs(cfg: TrackingConfig) -> list[PresetRun]:
    """For each paper preset, the runs of its latest batch (none if never run)."""
    store = tracking.Store.open(cfg)
    sweeps = latest_sweeps(store.sweeps(cfg.experiment))
    found = []
    for preset in PRESETS:
        parent = sweeps.get(preset)
        hydra = None if parent is None else sweep_batch(parent, store.child_runs(parent.run_id))
        dvc = dvc_batch(store.dvc_training_runs(cfg.experiment, PRESET_PARAM, preset))
        chosen = latest_batch(hydra, dvc)
        if chosen is not None:
            rows = [row_of(preset, r.params, r.metrics, r.status) for r in newest_per_point(chosen.runs)]
            found.append(PresetRun(preset, rows, chosen.seconds))
    return found


def latest_sweeps(parents: Iterable[TrackedRun]) -> dict[str, TrackedRun]:
    """Each preset's most recent Hydra sweep parent (`parents` come newest first)."""
    found: dict[str, TrackedRun] = {}
    for parent in parents:
        preset = preset_of(parent.params.get("sweep.overrides", ""))
        if preset is not None and preset not in found:
            found[preset] = parent
    return found


def sweep_batch(parent: TrackedRun, children: list[TrackedRun]) -> Batch:
    starts = [parent.start_ms, *(run.start_ms for run in children)]
    return Batch(children, parent.seconds, max(starts))


def baseline_of(run: TrackedRun) -> str:
    """The commit a DVC training's batch started from (older runs without the tag: their commit)."""
    return run.tags.get(tracking.TAG_DVC_BASELINE) or run.tags.get(tracking.TAG_COMMIT, "")


def dvc_batch(runs: list[TrackedRun]) -> Batch | None:
    """The DVC runs of one preset that share the baseline of the most recently started one."""
    if not runs:
        return None
    newest = max(runs, key=lambda run: run.start_ms)
    batch = [run for run in runs if baseline_of(run) == baseline_of(newest)]
    ended = [run.seconds for run in batch]
    seconds = None
    if all(s is not None for s in ended):
        end = max(run.start_ms + 1000.0 * (run.seconds or 0.0) for run in batch)
        seconds = (end - min(run.start_ms for run in batch)) / 1000.0
    return Batch(batch, seconds, newest.start_ms)


def latest_batch(*batches: Batch | None) -> Batch | None:
    """The batch whose newest run started last."""
    present = [batch for batch in batches if batch is not None]
    return max(present, key=lambda batch: batch.last_start_ms, default=None)


def newest_per_point(runs: Iterable[TrackedRun]) -> list[TrackedRun]:
    """One run per (config point, seed): the most recently started, oldest first."""
    newest: dict[tuple[str | None, ...], TrackedRun] = {}
    for run in sorted(runs, key=lambda run: run.start_ms):
        newest[tuple(run.params.get(key) for key in POINT_PARAMS)] = run
    return sorted(newest.values(), key=lambda run: run.start_ms)


def write_from_store(settings: Settings) -> list[Path]:
    """The paper report of the store's latest paper batches, in `report.out_dir` or reports/paper/."""
    presets = latest_preset_runs(settings.tracking)
    out_dir = Path(settings.report.out_dir) if settings.report.out_dir else project_path("reports", "paper")
    return write_paper_report(runs_frame(presets), {p.preset: p.seconds for p in presets}, out_dir)
