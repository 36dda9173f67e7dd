"""The tune stage: `python -m pipeline.tune hparams_search=dropout_optuna` (a Hydra app).

Searches the keys and ranges of `conf/hparams_search/<name>.yaml` with Optuna, minimising the
validation loss; every trial is an MLflow child of the search's parent run, which ends with the
best values and the search's plots. A search stopped by Ctrl-C or SIGTERM continues with the same
command. Parallel: `python -m pipeline.tune -m hparams_search=dropout_optuna search.worker=0,1`
runs identical workers on one study (joblib here, `hydra/launcher=ray` on a cluster); the
multirun's callback opens the search and hands its parent run to them. See docs/tuning.md.
"""

from __future__ import annotations

import logging
import time

from pipeline.core.config import Settings
from pipeline.core.paths import project_path
from pipeline.data.build import load_for
from pipeline.process import interrupts
from pipeline.process.exit import exit_without_teardown
from pipeline.process.launch import Launch
from pipeline.process.stage import stage
from pipeline.tracking import reconcile as runs
from pipeline.tracking.heartbeat import ParentHeartbeat
from pipeline.tuning import search as searches
from pipeline.tuning.space import check_space

log = logging.getLogger(__name__)


def task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def same_command(overrides: list[str]) -> str:
    return " ".join(["python -m pipeline.tune", *overrides])


def summary_line(search: searches.Search, found: searches.Outcome | None, seconds: float) -> str:
    counts = found.counts if found else {}
    head = (
        f"study {search.study.study_name}: {counts.get('n_complete', 0)} complete, "
        f"{counts.get('n_pruned', 0)} pruned, {counts.get('n_fail', 0)} failed in {seconds:.0f} s"
    )
    if found is None:
        return head + "; no finished trial yet"
    best = ", ".join(f"{key}={value:.4g}" for key, value in found.best.items())
    return (
        f"{head}; best trial {found.best_trial} (run {found.best_run_id}): val_loss {found.best_value:.4f} "
        f"with {best}; parent run {search.parent_run_id}"
    )


@stage
def main(settings: Settings, launch: Launch) -> None:
    search_cfg = check_space(settings)  # before any data or TensorFlow
    data = load_for(settings.data, project_path())
    runs.reconcile(settings.tracking)
    overrides = task_overrides()
    started = time.monotonic()
    if launch.parent_run_id:  # a worker of a parallel search: the multirun owns the parent
        search = searches.open_search(settings, launch.source.value, overrides, launch.parent_run_id)
        searches.run_trials(search, data, launch)
        log.info("worker %d done: %s", search_cfg.worker, summary_line(search, searches.outcome(search), 0))
        return
    search = searches.open_search(settings, launch.source.value, overrides)
    with ParentHeartbeat(search.store, search.parent_run_id, settings.tracking.stale_after_s):
        try:
            searches.run_trials(search, data, launch)
        except KeyboardInterrupt as exc:
            searches.stopped(search)
            interrupts.summarize(
                exc,
                f"search {search_cfg.study} stopped by {interrupts.signal_name(exc)} after "
                f"{searches.studies.counted(search.study)} of {search_cfg.n_trials} trials (parent run "
                f"{search.parent_run_id} KILLED); continue with: {same_command(overrides)}",
            )
            raise
        found = searches.finish(search)  # still beating: plots and records take a while
    print(summary_line(search, found, time.monotonic() - started), flush=True)


if __name__ == "__main__":
    main()
    exit_without_teardown()
