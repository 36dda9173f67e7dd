"""Group a Hydra multirun under one MLflow parent run, also when jobs run in other processes.

The parent is created once at multirun start and its id handed to every job through the
environment (joblib's workers inherit it); each job then starts its run as a child of that id.
Hydra turns an exception in a callback into a warning and carries on: a sweep without its parent
would leave orphan runs and no report, so a failure here ends the process with a clear error.
"""

from __future__ import annotations

import atexit
import logging
import sys
import uuid
from collections.abc import Callable
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from pipeline.core import interrupts, launch
from pipeline.core.config import Settings, load_settings
from pipeline.core.errors import UserError
from pipeline.tracking import groups
from pipeline.tracking import reconcile as runs
from pipeline.tracking.store import Store

log = logging.getLogger(__name__)


def _or_exit(what: str, action: Callable[[], Any]) -> Any:
    """Run `action`; on any error print one line and exit non-zero (Hydra would only warn)."""
    try:
        return action()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except Exception as exc:
        log.debug("%s failed", what, exc_info=True)
        print(f"error: {what} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


class MlflowSweepCallback(Callback):
    """Starts the sweep's parent run, ends it with the children's outcome, and writes the report."""

    def __init__(self) -> None:
        self.parent_run_id: str | None = None
        self.settings: Settings | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.settings = _or_exit("validating the sweep's config", lambda: load_settings(config))
        sweep_id = uuid.uuid4().hex[:8]
        overrides = list(config.hydra.overrides.task)
        source = launch.Source.PROJECT if launch.project_run() else launch.Source.MULTIRUN
        # SIGTERM/SIGHUP stop the sweep like Ctrl-C: this process ends its runs KILLED at exit.
        interrupts.install()
        store = _or_exit("opening the MLflow store", lambda: Store.open(self.settings.tracking))
        _or_exit("reconciling the MLflow store", lambda: runs.reconcile(self.settings.tracking))
        where = runs.identity_tags()
        self.parent_run_id = _or_exit(
            "creating the sweep's parent run",
            lambda: groups.start_sweep(
                store, self.settings.tracking.experiment, sweep_id, overrides, source.value, where
            ),
        )
        launch.hand_to_jobs(self.parent_run_id, sweep_id)
        parent = self.parent_run_id
        atexit.register(lambda: groups.abandon_sweep(store, parent, interrupts.received()))
        log.info("MLflow sweep %s: parent run %s", sweep_id, self.parent_run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.parent_run_id is None or self.settings is None:
            return
        from pipeline.reporting.comparison import build_report

        store = Store.open(self.settings.tracking)
        try:
            _or_exit("the sweep's report", lambda: build_report(self.settings, self.parent_run_id))
        finally:
            status = groups.end_group(store, self.parent_run_id)
            log.info("MLflow sweep parent run %s ended %s", self.parent_run_id, status)
