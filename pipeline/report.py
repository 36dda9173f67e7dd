"""The comparison stage: `python -m pipeline.report` (Hydra app; DVC stage `compare`).

Sources: the DVC outputs (`metrics/`, `plots/`) when run as the `compare` stage (or with
`report.source=dvc`), MLflow runs otherwise: `report.parent_run_id=<id>` (one sweep),
`report.experiment=<name>` (every training run of an experiment), default the latest sweep.
"""

from __future__ import annotations

import logging

from pipeline.core.config import Settings
from pipeline.process.launch import Launch
from pipeline.process.stage import stage
from pipeline.reporting.comparison import report_from_dvc, report_from_mlflow, use_dvc
from pipeline.tracking import reconcile

log = logging.getLogger(__name__)


@stage
def main(settings: Settings, launch: Launch) -> None:
    dvc = use_dvc(settings, launch)
    if not dvc:  # a crash's RUNNING runs are FAILED, so the report does not wait on or show them
        reconcile.reconcile(settings.tracking)
    report = report_from_dvc(settings, launch) if dvc else report_from_mlflow(settings)
    log.info("wrote %s", report)


if __name__ == "__main__":
    main()
