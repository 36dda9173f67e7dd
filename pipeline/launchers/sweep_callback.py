"""Group a Hydra multirun under one MLflow parent run, also when jobs run in other processes.

The parent is made at multirun start and its id handed to every job in the environment; a thread
here beats its heartbeat while they run (so no reconciliation ends a long sweep), and at the end it
gets the comparison report, or, for a parallel search (`pipeline.tune -m`), the search's outcome.
A failure here ends the process with one line: Hydra would only warn, leaving orphan runs. Each job
that ends logs `sweep: 3/6 jobs done, 0:01:42 elapsed`, counted in a file of the sweep's folder; the
sweep's last lines name its report and its parent run. The keys the sweep varies go to the jobs
with the parent's id: each job's lines carry its values of them (`pipeline.process.launch`).
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from filelock import FileLock
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from pipeline.core.config import Settings, load_settings
from pipeline.core.paths import shown
from pipeline.process import interrupts, launch
from pipeline.process.exit import exit_on_error
from pipeline.tracking import groups
from pipeline.tracking import reconcile as runs
from pipeline.tracking.heartbeat import ParentHeartbeat
from pipeline.tracking.store import Store

log = logging.getLogger(__name__)

# "<start time (epoch seconds)> <number of jobs, 0 = unknown>", set at multirun start for the jobs.
PROGRESS_ENV = "DROPOUT_LAB_SWEEP_PROGRESS"
DONE_FILE = "jobs_done.txt"
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
# Hydra's joblib launcher opens a sweep with a 250-character line of joblib's settings, then lists
# the jobs (which stay); the settings are in the launcher's config (`conf/hydra/launcher/`).
JOBLIB_LOGGER = "hydra_plugins.hydra_joblib_launcher._core"


def without_joblib_settings(record: logging.LogRecord) -> bool:
    """A logging filter: every record of the joblib launcher's logger but its settings line."""
    return not str(record.msg).startswith("Joblib.Parallel(")


def sweep_overrides(config: DictConfig) -> list[Any] | None:
    """The sweep's overrides as Hydra's grid sweeper reads them (`hydra.sweeper.params`, then the
    command line), parsed; None for another sweeper."""
    if OmegaConf.select(config, "hydra.sweeper._target_") != BASIC_SWEEPER:
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    lines = [f"{key}={value}" for key, value in params.items()]
    return OverridesParser.create().parse_overrides([*lines, *config.hydra.overrides.task])


def count_jobs(config: DictConfig) -> int | None:
    """How many jobs Hydra's grid sweeper will launch (the product of the swept values, from
    `hydra.sweeper.params` and the command line); None for another sweeper or an unparsable list."""
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        overrides = sweep_overrides(config)
        if overrides is None:
            return None
        return sum(len(batch) for batch in BasicSweeper.split_arguments(overrides, None))
    except Exception:
        log.debug("could not count the sweep's jobs", exc_info=True)
        return None


def swept_keys(config: DictConfig) -> list[str] | None:
    """The keys the grid sweeper gives several values (a later override of a key wins, as in the
    sweeper): what tells its jobs apart. None for another sweeper or an unparsable list."""
    try:
        overrides = sweep_overrides(config)
    except Exception:
        log.debug("could not read the sweep's keys", exc_info=True)
        return None
    if overrides is None:
        return None
    swept = {override.key_or_group: override.is_sweep_override() for override in overrides}
    return [key for key, several in swept.items() if several]


def count_done(sweep_dir: Path, job_num: int) -> int:
    """Record that job `job_num` ended; return how many jobs of the sweep have (a lock: jobs end
    in parallel processes)."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(sweep_dir / f".{DONE_FILE}.lock"), (sweep_dir / DONE_FILE).open("a+") as done:
        done.write(f"{job_num}\n")
        done.seek(0)
        return len(done.read().split())


def progress_line(done: int, total: int | None, seconds: float) -> str:
    jobs = f"{done}/{total}" if total else f"{done}"
    return f"sweep: {jobs} jobs done, {timedelta(seconds=math.floor(seconds))} elapsed"


class MlflowSweepCallback(Callback):
    """Starts the sweep's parent run, ends it with the children's outcome, and writes the report."""

    def __init__(self) -> None:
        self.parent_run_id: str | None = None
        self.sweep_id = ""
        self.settings: Settings | None = None
        self.heartbeat: ParentHeartbeat | None = None
        self.search: Any = None  # a pipeline.tuning.search.Search, for a parallel search

    def __getstate__(self) -> dict[str, Any]:
        """Launchers pickle the callbacks with every job: the heartbeat thread and the open study
        stay in this process (jobs never need them)."""
        return {**self.__dict__, "heartbeat": None, "search": None}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        logging.getLogger(JOBLIB_LOGGER).addFilter(without_joblib_settings)
        with exit_on_error("validating the sweep's config"):
            settings = self.settings = load_settings(config)
        sweep_id = self.sweep_id = uuid.uuid4().hex[:8]
        overrides = list(config.hydra.overrides.task)
        source = launch.Source.PROJECT if launch.project_run() else launch.Source.MULTIRUN
        # SIGTERM/SIGHUP stop the sweep like Ctrl-C: this process ends its runs KILLED at exit.
        interrupts.install()
        with exit_on_error("opening the MLflow store"):
            store = Store.open(settings.tracking)
            runs.reconcile(settings.tracking)
        where = {**settings.tags, **runs.identity_tags()}
        if settings.search is not None:
            from pipeline.tuning.search import open_search

            with exit_on_error("opening the search"):
                self.search = open_search(settings, source.value, overrides)
            self.parent_run_id = self.search.parent_run_id
        else:
            with exit_on_error("creating the sweep's parent run"):
                experiment = settings.tracking.experiment
                self.parent_run_id = groups.start_sweep(
                    store, experiment, sweep_id, overrides, source.value, where
                )
        launch.hand_to_jobs(self.parent_run_id, sweep_id, swept_keys(config))
        os.environ[PROGRESS_ENV] = f"{time.time():.3f} {count_jobs(config) or 0}"
        parent = self.parent_run_id
        self.heartbeat = ParentHeartbeat(store, parent, settings.tracking.stale_after_s).start()
        atexit.register(lambda: groups.abandon_sweep(store, parent, interrupts.received()))
        log.info("MLflow sweep %s: parent run %s", sweep_id, self.parent_run_id)

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        """Log `sweep: k/N jobs done, <elapsed>` (a job that exits with an error ends the sweep
        instead: Hydra calls no callback for it)."""
        progress = os.environ.get(PROGRESS_ENV)
        if not progress or OmegaConf.select(config, "hydra.mode") != RunMode.MULTIRUN:
            return
        try:
            started, total = progress.split()
            done = count_done(Path(config.hydra.sweep.dir), int(config.hydra.job.num))
        except (OSError, ValueError):
            log.debug("no sweep progress", exc_info=True)  # e.g. a worker without the sweep's folder
            return
        log.info(progress_line(done, int(total) or None, time.time() - float(started)))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.parent_run_id is None or self.settings is None:
            return
        try:
            self._end_parent()
        finally:  # the parent beats until it has ended: a report can take longer than stale_after_s
            if self.heartbeat is not None:
                self.heartbeat.stop()

    def _end_parent(self) -> None:
        settings, parent = self.settings, self.parent_run_id
        assert settings is not None and parent is not None
        if self.search is not None:
            from pipeline.tuning.search import finish

            with exit_on_error("recording the search's outcome"):
                found = finish(self.search)
            log.info("search parent run %s ended; best: %s", self.parent_run_id, found)
            return
        from pipeline.reporting.comparison import build_report

        store = Store.open(settings.tracking)
        try:
            with exit_on_error("the sweep's report"):
                report = build_report(settings, parent)
            log.info("sweep %s: report %s", self.sweep_id, shown(report))
        finally:
            status = groups.end_group(store, parent)
            log.info(
                "sweep %s: MLflow parent run %s ended %s: %s",
                self.sweep_id, parent, status, store.run_page(parent),
            )  # fmt: skip
