"""The paper's figures and table from the tracking store: `python -m pipeline.paper_report`.

Reads the latest batch of each paper preset (`tracking.*`, or MLFLOW_TRACKING_URI) and writes the
table and figures into `report.out_dir` (default `reports/paper/`); `pipeline.reporting.paper_report`
says what a batch is.
"""

from __future__ import annotations

import logging

from pipeline.core.config import Settings
from pipeline.process.launch import Launch
from pipeline.process.stage import stage
from pipeline.reporting.paper_report import write_from_store

log = logging.getLogger(__name__)


@stage
def main(settings: Settings, launch: Launch) -> None:
    for path in write_from_store(settings):
        log.info("wrote %s", path)


if __name__ == "__main__":
    main()
