"""The paper's figures and table from the tracking store: `python -m pipeline.paper_report`.

Reads the latest batch of each paper preset (`tracking.*`, or MLFLOW_TRACKING_URI; see
`pipeline.reporting.run_batches`) and writes the table and figures into `report.out_dir` (default
`reports/paper/`).

    MLFLOW_TRACKING_URI=sqlite:///path/to/paper-runs/mlflow.db python -m pipeline.paper_report
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.core.config import Settings
from pipeline.core.paths import project_path
from pipeline.process.launch import Launch
from pipeline.process.stage import stage
from pipeline.reporting.paper import runs_frame, write_paper_report
from pipeline.reporting.run_batches import latest_preset_runs

log = logging.getLogger(__name__)


@stage
def main(settings: Settings, launch: Launch) -> None:
    presets = latest_preset_runs(settings.tracking)
    out_dir = Path(settings.report.out_dir) if settings.report.out_dir else project_path("reports", "paper")
    seconds = {preset.preset: preset.seconds for preset in presets}
    for path in write_paper_report(runs_frame(presets), seconds, out_dir):
        log.info("wrote %s", path)


if __name__ == "__main__":
    main()
