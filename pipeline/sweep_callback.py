"""Group a Hydra multirun under one MLflow parent run, also when jobs run in other processes.

The parent is created once at multirun start and its id handed to every job through the
environment (joblib's workers inherit it); each job then starts its run as a child of that id.
"""

from __future__ import annotations

import atexit
import logging
import os
import uuid
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from pipeline import tracking
from pipeline.config import Settings, load_settings

log = logging.getLogger(__name__)


class MlflowSweepCallback(Callback):
    """Starts the sweep's parent run, ends it with the children's outcome, and writes the report."""

    def __init__(self) -> None:
        self.parent_run_id: str | None = None
        self.settings: Settings | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.settings = load_settings(config)
        sweep_id = uuid.uuid4().hex[:8]
        overrides = list(config.hydra.overrides.task)
        self.parent_run_id = tracking.start_sweep(self.settings.tracking, sweep_id, overrides)
        os.environ[tracking.PARENT_RUN_ENV] = self.parent_run_id
        os.environ[tracking.SWEEP_ID_ENV] = sweep_id
        atexit.register(tracking.abandon_sweep, self.settings.tracking, self.parent_run_id)
        log.info("MLflow sweep %s: parent run %s", sweep_id, self.parent_run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.parent_run_id is None or self.settings is None:
            return
        from pipeline.report import build_report

        build_report(self.settings, self.parent_run_id)
        status = tracking.end_sweep(self.settings.tracking, self.parent_run_id)
        log.info("MLflow sweep parent run %s ended %s", self.parent_run_id, status)
