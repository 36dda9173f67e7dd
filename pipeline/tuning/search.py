"""A hyperparameter search as the project runs it: one MLflow parent run per study, one child run
per trial (a tracked training, pruned on its per-epoch validation loss), the outcome on the parent.

    search = open_search(settings, source, overrides)   # study + parent (created or continued)
    run_trials(search, data, launch)                     # this process's trials
    outcome = finish(search)                             # best values and plots on the parent

A parallel search is several processes running trials on one study (a multirun of identical
workers, whose callback opens the search). The test split is never used.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from pipeline.core.config import Settings
from pipeline.data.processed import ProcessedData
from pipeline.process import interrupts
from pipeline.process.launch import Launch
from pipeline.runs.tracked_training import train_tracked
from pipeline.tracking import groups
from pipeline.tracking import reconcile as runs
from pipeline.tracking.connect import store_lock
from pipeline.tracking.heartbeat import ParentHeartbeat
from pipeline.tracking.store import Store
from pipeline.tracking.tags import FINISHED, KILLED, TAG_STUDY, TAG_TRIAL, TAG_TRIAL_STATE
from pipeline.tuning import study as studies
from pipeline.tuning.space import check_space, with_values
from pipeline.tuning.storage import storage_url

log = logging.getLogger(__name__)
OBJECTIVE = "val_loss"


@dataclass(frozen=True)
class Search:
    settings: Settings
    study: optuna.Study
    parent_run_id: str
    store: Store
    storage_url: str


@dataclass(frozen=True)
class Outcome:
    """What a search found so far: the best trial's values and loss, and how trials ended."""

    best: dict[str, float]
    best_value: float
    best_trial: int
    best_run_id: str | None
    counts: dict[str, int]


def open_search(
    settings: Settings, source: str, overrides: list[str], parent_run_id: str | None = None
) -> Search:
    """The study (created, or loaded to continue) and its parent run.

    Without `parent_run_id` this process owns the parent: the study's own (a resumed search:
    RUNNING again, in this process) or a new one, remembered in the study. Workers of a parallel
    search get the id their multirun made.
    """
    search = check_space(settings)
    store = Store.open(settings.tracking)
    url = storage_url(search, store.uri)
    study = studies.open_study(search, url)
    if parent_run_id is None:
        with store_lock(url):
            known = study.user_attrs.get(studies.PARENT_ATTR)
            where = {**settings.tags, **runs.identity_tags()}
            if known and store.has_run(known):
                groups.reopen(store, known, where)
                parent_run_id = known
                log.info("study %s continues in parent run %s", search.study, known)
            else:
                experiment = settings.tracking.experiment
                parent_run_id = groups.start_search(store, experiment, search.study, overrides, source, where)
                study.set_user_attr(studies.PARENT_ATTR, parent_run_id)
    log.info(
        "study %s (%s): %d of %d trials counted; parent run %s",
        search.study, url, studies.counted(study), search.n_trials, parent_run_id,
    )  # fmt: skip
    return Search(settings, study, parent_run_id, store, url)


def objective_value(settings: Settings, history: object) -> float:
    """The validation loss of the model a trial ends with: the last epoch's, or the best epoch's
    when early stopping restores it."""
    losses = history[OBJECTIVE]  # type: ignore[index]
    return float(losses.min() if settings.train.early_stopping_patience else losses.iloc[-1])


def run_trials(search: Search, data: ProcessedData, launch: Launch) -> None:
    """Train trials in this process until the study counts `search.n_trials`: each a tracked
    training (`pipeline.runs.tracked_training`) that is a child of the search's parent, with the
    trial's tags and a pruning hook on its per-epoch validation loss."""
    cfg = search.settings.search
    assert cfg is not None
    trial_launch = dataclasses.replace(launch, parent_run_id=search.parent_run_id, own_run_id=None)

    def objective(trial: optuna.Trial) -> float:
        values = {key: trial.suggest_float(key, r.low, r.high, log=r.log) for key, r in cfg.params.items()}
        settings = with_values(search.settings, values)
        tags = {TAG_STUDY: cfg.study, TAG_TRIAL: str(trial.number)}
        hooks = [studies.pruning_reporter(trial, OBJECTIVE)]
        run_id, result = train_tracked(settings, data, trial_launch, tags=tags, hooks=hooks, role="trial")
        trial.set_user_attr(studies.RUN_ATTR, run_id)
        if result.stopped is not None:
            search.store.record(run_id, {TAG_TRIAL_STATE: TrialState.PRUNED.name})
            raise optuna.TrialPruned(str(result.stopped))
        value = objective_value(settings, result.history)
        search.store.record(run_id, {TAG_TRIAL_STATE: TrialState.COMPLETE.name}, {"objective": value})
        return value

    studies.optimize(search.study, objective, cfg.n_trials)


def outcome(search: Search) -> Outcome | None:
    """The best finished trial so far, None before one finished."""
    complete = search.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    best = search.study.best_trial
    assert best.value is not None  # a complete trial of a single-objective study has one
    return Outcome(
        best=dict(best.params),
        best_value=float(best.value),
        best_trial=best.number,
        best_run_id=best.user_attrs.get(studies.RUN_ATTR),
        counts=studies.states(search.study),
    )


def record_outcome(search: Search) -> Outcome | None:
    """The outcome so far on the parent run: best values, best trial and run, counts, plots."""
    found = outcome(search)
    metrics: dict[str, float] = {**studies.states(search.study), "n_counted": studies.counted(search.study)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        studies.write_plots(search.study, folder)
        if found is not None:
            metrics["best_val_loss"] = found.best_value
            (folder / "best_params.json").write_text(json.dumps(dataclasses.asdict(found), indent=2))
        best = found.best if found else {}
        groups.record_search_result(
            search.store, search.parent_run_id, best, found.best_trial if found else -1,
            found.best_run_id if found else None, metrics, folder,
        )  # fmt: skip
    return found


def finish(search: Search) -> Outcome | None:
    """Record the outcome on the parent and end it: FINISHED once the study has all its trials,
    KILLED while some are still to run (the same command continues it)."""
    found = record_outcome(search)
    cfg = search.settings.search
    assert cfg is not None
    done = studies.counted(search.study) >= cfg.n_trials
    groups.end_run(search.store, search.parent_run_id, FINISHED if done else KILLED)
    return found


def stopped(search: Search) -> None:
    """A search interrupted in this process: what it found so far on the parent, which ends KILLED."""
    try:
        record_outcome(search)
    finally:
        groups.end_run(search.store, search.parent_run_id, KILLED)


def search_here(settings: Settings, data: ProcessedData, launch: Launch) -> None:
    """The tune stage's search in this process: a worker of a parallel search when the multirun
    handed it a parent, else the whole search, which owns its parent run, beats its heartbeat, and
    ends it with the outcome (KILLED with what it found so far when interrupted)."""
    cfg = settings.search
    assert cfg is not None
    started, overrides = time.monotonic(), list(launch.overrides)
    if launch.parent_run_id:  # a worker of a parallel search: the multirun owns the parent
        search = open_search(settings, launch.source.value, overrides, launch.parent_run_id)
        run_trials(search, data, launch)
        log.info("worker %d done: %s", cfg.worker, summary_line(search, outcome(search), 0))
        return
    search = open_search(settings, launch.source.value, overrides)
    with ParentHeartbeat(search.store, search.parent_run_id, settings.tracking.stale_after_s):
        try:
            run_trials(search, data, launch)
        except KeyboardInterrupt as exc:
            stopped(search)
            command = " ".join(["python -m pipeline.tune", *overrides])
            interrupts.summarize(
                exc,
                f"search {cfg.study} stopped by {interrupts.signal_name(exc)} after "
                f"{studies.counted(search.study)} of {cfg.n_trials} trials (parent run "
                f"{search.parent_run_id} KILLED); continue with: {command}",
            )
            raise
        found = finish(search)  # still beating: plots and records take a while
    print(summary_line(search, found, time.monotonic() - started), flush=True)


def summary_line(search: Search, found: Outcome | None, seconds: float) -> str:
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
