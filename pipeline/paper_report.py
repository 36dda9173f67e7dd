"""The paper's figures and table from the tracking store: `python -m pipeline.paper_report` (Hydra app).

Reads the latest sweep of each paper preset (`tracking.*`, or MLFLOW_TRACKING_URI) and writes the
table and figures of `pipeline.paper` into `report.out_dir` (default `reports/paper/`). A sweep's
parent run records its command-line overrides (`sweep.overrides`), which name the preset; its
children are the training runs.

    MLFLOW_TRACKING_URI=sqlite:////work/paper-runs/mlflow.db python -m pipeline.paper_report
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline import tracking
from pipeline.config import Settings, TrackingConfig, project_path
from pipeline.launch import Launch
from pipeline.paper import PresetRun, preset_of, row_of, runs_frame, write_paper_report
from pipeline.stage import stage

log = logging.getLogger(__name__)


def latest_preset_runs(cfg: TrackingConfig) -> list[PresetRun]:
    """For each paper preset, the runs of its most recently started sweep (none if never run)."""
    store = tracking.Store.open(cfg)
    found: dict[str, PresetRun] = {}
    for parent in store.sweeps(cfg.experiment):
        preset = preset_of(parent.params.get("sweep.overrides", ""))
        if preset is None or preset in found:
            continue
        rows = [
            row_of(preset, run.params, run.metrics, run.status) for run in store.child_runs(parent.run_id)
        ]
        found[preset] = PresetRun(preset, rows, parent.seconds)
    return list(found.values())


def write_from_store(settings: Settings) -> list[Path]:
    """The paper report of the store's latest paper sweeps, in `report.out_dir` or reports/paper/."""
    presets = latest_preset_runs(settings.tracking)
    out_dir = Path(settings.report.out_dir) if settings.report.out_dir else project_path("reports", "paper")
    return write_paper_report(runs_frame(presets), {p.preset: p.seconds for p in presets}, out_dir)


@stage
def main(settings: Settings, launch: Launch) -> None:
    for path in write_from_store(settings):
        log.info("wrote %s", path)


if __name__ == "__main__":
    main()
