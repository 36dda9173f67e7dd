"""Batches of training runs in the tracking store: the newest sweep (the comparison's default), and
each paper preset's latest batch (`python -m pipeline.paper_report`). A batch is a Hydra sweep (its
parent's `sweep.overrides` param names the preset; its children are the batch) or a DVC batch: the
DVC trainings whose `tracking.preset` param names the preset and whose baseline commit (tag
`dropout_lab.dvc_baseline`: shared by every experiment queued from one commit) is the newest's.

A preset's latest batch is the one whose newest training started last, never a mix; a config point
run twice with one seed counts once (the newer run). Its time is the parent's wall-clock time
(Hydra) or from its first run's start to its last run's end (DVC); none while a run is going.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.core.config import TrackingConfig
from pipeline.reporting.paper import PRESETS, PresetRun, row_of
from pipeline.tracking import groups
from pipeline.tracking.store import Store, TrackedRun
from pipeline.tracking.tags import TAG_COMMIT, TAG_DVC_BASELINE

PRESET_PARAM = "tracking.preset"
# What makes two runs the same point of a figure, and the seed: runs equal on all of these repeat one.
POINT_PARAMS = (
    "model.dropout.rate", "model.dropout.input_rate", "data.train_size", "model.hidden_units",
    "model.max_norm", "train.seed",
)  # fmt: skip
_EXPERIMENT_OVERRIDE = re.compile(r"(?:^|\s)\+?experiment=(\w+)")


@dataclass(frozen=True)
class Batch:
    """The training runs of one Hydra sweep or one DVC baseline, and its wall-clock seconds."""

    runs: list[TrackedRun]
    seconds: float | None
    # When its newest run (or, for a sweep without runs yet, its parent) started, in ms.
    last_start_ms: int


def sweep_preset(overrides: str) -> str | None:
    """The preset (`experiment=<name>`) a sweep ran, from its parent's `sweep.overrides` param."""
    found = _EXPERIMENT_OVERRIDE.search(overrides)
    return found.group(1) if found else None


def newest_sweep(store: Store, experiment: str, preset: str | None = None) -> TrackedRun | None:
    """The most recently started sweep parent run in `experiment` (of `preset` when given)."""
    for parent in store.sweeps(experiment):  # newest first
        if preset is None or sweep_preset(parent.params.get("sweep.overrides", "")) == preset:
            return parent
    return None


def sweep_batch(parent: TrackedRun, children: list[TrackedRun]) -> Batch:
    starts = [parent.start_ms, *(run.start_ms for run in children)]
    return Batch(children, parent.seconds, max(starts))


def baseline_of(run: TrackedRun) -> str:
    """The commit a DVC training's batch started from (older runs without the tag: their commit)."""
    return run.tags.get(TAG_DVC_BASELINE) or run.tags.get(TAG_COMMIT, "")


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


def latest_preset_batch(store: Store, experiment: str, preset: str) -> Batch | None:
    """A preset's latest batch: its newest Hydra sweep or its newest DVC batch, never a mix."""
    parent = newest_sweep(store, experiment, preset)
    hydra = None if parent is None else sweep_batch(parent, store.child_runs(parent.run_id))
    dvc = dvc_batch(groups.dvc_training_runs(store, experiment, PRESET_PARAM, preset))
    return latest_batch(hydra, dvc)


def newest_per_point(runs: Iterable[TrackedRun]) -> list[TrackedRun]:
    """One run per (config point, seed): the most recently started, oldest first."""
    newest: dict[tuple[str | None, ...], TrackedRun] = {}
    for run in sorted(runs, key=lambda run: run.start_ms):
        newest[tuple(run.params.get(key) for key in POINT_PARAMS)] = run
    return sorted(newest.values(), key=lambda run: run.start_ms)


def latest_preset_runs(cfg: TrackingConfig) -> list[PresetRun]:
    """For each paper preset, the runs of its latest batch (none if never run)."""
    store = Store.open(cfg)
    found = []
    for preset in PRESETS:
        chosen = latest_preset_batch(store, cfg.experiment, preset)
        if chosen is not None:
            rows = [row_of(preset, r.params, r.metrics, r.status) for r in newest_per_point(chosen.runs)]
            found.append(PresetRun(preset, rows, chosen.seconds))
    return found
