"""Group a Hydra multirun under one MLflow parent run, also when jobs run in other processes.

The parent is created once at multirun start and its id handed to every job through the
environment (joblib's workers inherit it); each job then starts its run as a child of that id.
While the jobs run, a thread in this process beats the parent's heartbeat, so a reconciliation
on another host never ends a long sweep as stale. A multirun of `pipeline.tune` (a config with
`search`) is a parallel search: its parent is the search's (continued when the study has one), and
it ends with the search's outcome instead of the comparison report.
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
from pipeline.tracking.heartbeat import ParentHeartbeat
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
        self.heartbeat: ParentHeartbeat | None = None
        self.search: Any = None  # a pipeline.tuning.search.Search, for a parallel search

    def __getstate__(self) -> dict[str, Any]:
        """Launchers pickle the callbacks with every job: the heartbeat thread and the open study
        stay in this process (jobs never need them)."""
        return {**self.__dict__, "heartbeat": None, "search": None}

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
        if self.settings.search is not None:
            from pipeline.tuning.search import open_search

            settings = self.settings
            opened = _or_exit("opening the search", lambda: open_search(settings, source.value, overrides))
            self.search = opened
            self.parent_run_id = self.search.parent_run_id
        else:
            self.parent_run_id = _or_exit(
                "creating the sweep's parent run",
                lambda: groups.start_sweep(
                    store, self.settings.tracking.experiment, sweep_id, overrides, source.value, where
                ),
            )
        launch.hand_to_jobs(self.parent_run_id, sweep_id)
        parent = self.parent_run_id
        self.heartbeat = ParentHeartbeat(store, parent, self.settings.tracking.stale_after_s).start()
        atexit.register(lambda: groups.abandon_sweep(store, parent, interrupts.received()))
        log.info("MLflow sweep %s: parent run %s", sweep_id, self.parent_run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.parent_run_id is None or self.settings is None:
            return
        try:
            self._end_parent()
        finally:  # the parent beats until it has ended: a report can take longer than stale_after_s
            if self.heartbeat is not None:
                self.heartbeat.stop()

    def _end_parent(self) -> None:
        assert self.settings is not None and self.parent_run_id is not None
        if self.search is not None:
            from pipeline.tuning.search import finish

            found = _or_exit("recording the search's outcome", lambda: finish(self.search))
            log.info("search parent run %s ended; best: %s", self.parent_run_id, found)
            return
        from pipeline.reporting.comparison import build_report

        store = Store.open(self.settings.tracking)
        try:
            _or_exit("the sweep's report", lambda: build_report(self.settings, self.parent_run_id))
        finally:
            status = groups.end_group(store, self.parent_run_id)
            log.info("MLflow sweep parent run %s ended %s", self.parent_run_id, status)
