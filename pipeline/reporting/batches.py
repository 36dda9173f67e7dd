"""The paper's figures and table from the tracking store (`python -m pipeline.paper_report`).

Reads the latest batch of each paper preset (`tracking.*`, or MLFLOW_TRACKING_URI) and writes the
table and figures of `pipeline.reporting.paper` into `report.out_dir` (default `reports/paper/`). A batch is

- a Hydra sweep (`python -m pipeline.train -m experiment=paper_rates`): its parent run records the
  command-line overrides (`sweep.overrides`), which name the preset; its children are the batch;
- a DVC batch (`dvc exp run -S experiment=paper_rates`, queued or not, or `dvc repro`): the training
  runs DVC stages made whose param `tracking.preset` (set by every preset) names the preset and whose
  baseline commit (tag `dropout_lab.dvc_baseline`: DVC_EXP_BASELINE_REV, shared by every experiment
  queued from one commit; the commit itself under `dvc repro`) is the same.

`pipeline.reporting.collect` finds both (the comparison's sweeps are found the same way).
A preset's latest batch is the one with the most recently started training run: its latest Hydra
sweep or the DVC batch of its newest DVC run, never a mix. Within a batch, a config point (rate,
input rate, training-set size, net, max-norm) run twice with the same seed counts once: the newer run
(an experiment queued again after it failed, say). A batch's time is its parent's wall-clock time
(Hydra) or from its first run's start to its last run's end (DVC); none while a run is going.

    MLFLOW_TRACKING_URI=sqlite:///path/to/paper-runs/mlflow.db python -m pipeline.paper_report
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.core.config import Settings, TrackingConfig
from pipeline.core.paths import project_path
from pipeline.reporting.collect import latest_preset_batch, newest_per_point
from pipeline.reporting.paper import PRESETS, PresetRun, row_of, runs_frame, write_paper_report
from pipeline.tracking.store import Store

log = logging.getLogger(__name__)


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


def write_from_store(settings: Settings) -> list[Path]:
    """The paper report of the store's latest paper batches, in `report.out_dir` or reports/paper/."""
    presets = latest_preset_runs(settings.tracking)
    out_dir = Path(settings.report.out_dir) if settings.report.out_dir else project_path("reports", "paper")
    return write_paper_report(runs_frame(presets), {p.preset: p.seconds for p in presets}, out_dir)
