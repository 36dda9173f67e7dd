"""A hyperparameter search as the project runs it: one MLflow parent run per study, one child
run per trial (trained by `pipeline.training.loop`, pruned on its per-epoch validation loss), and
the outcome on the parent (best values, best trial and its run, plots).

    search = open_search(settings, source, overrides)       # study + parent (created or continued)
    run_trials(search, data, launch)                         # this process's trials
    outcome = finish(search)                                 # best values and plots on the parent

A parallel search is several processes calling `run_trials` on one study (a Hydra multirun of
identical workers: the multirun's callback opens the search and hands the parent to them).
The test split is never used: a trial's objective is its validation loss.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from pipeline.core.config import Settings
from pipeline.core.launch import Launch
from pipeline.data.preprocess import ProcessedData
from pipeline.tracking import active_run, groups, record
from pipeline.tracking import reconcile as runs
from pipeline.tracking.connect import store_lock
from pipeline.tracking.store import Store
from pipeline.tracking.tags import (
    FINISHED,
    KILLED,
    TAG_FINGERPRINT,
    TAG_STUDY,
    TAG_TRIAL,
    TAG_TRIAL_STATE,
)
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
    settings: Settings,
    source: str,
    overrides: list[str],
    parent_run_id: str | None = None,
    server_database: str | None = None,
) -> Search:
    """The study (created, or loaded to continue) and its parent run.

    Without `parent_run_id` this process owns the parent: the study's own (a resumed search:
    RUNNING again, in this process) or a new one, remembered in the study. Workers of a parallel
    search get the id their multirun made.
    """
    search = check_space(settings)
    store = Store.open(settings.tracking)
    url = storage_url(search, store.uri, server_database)
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
    """Train trials in this process until the study counts `search.n_trials`, each in an MLflow
    child run of the search's parent that records every epoch (pruned ones up to where they stopped)."""
    from pipeline.training.loop import build_and_fit

    cfg = search.settings.search
    assert cfg is not None
    trial_launch = dataclasses.replace(launch, parent_run_id=search.parent_run_id, own_run_id=None)

    def objective(trial: optuna.Trial) -> float:
        values = {key: trial.suggest_float(key, r.low, r.high, log=r.log) for key, r in cfg.params.items()}
        settings = with_values(search.settings, values)
        tags = {
            TAG_FINGERPRINT: data.fingerprint,
            TAG_STUDY: cfg.study,
            TAG_TRIAL: str(trial.number),
            **runs.identity_tags(),
        }
        pruned: optuna.TrialPruned | None = None
        with active_run.training_run(settings, trial_launch, tags, role="trial") as run_id:
            trial.set_user_attr(studies.RUN_ATTR, run_id)
            hooks = [record.log_epoch, record.heartbeat, studies.pruning_reporter(trial, OBJECTIVE)]
            try:
                result = build_and_fit(settings, data, hooks)
            except optuna.TrialPruned as exc:
                pruned = exc
                record.set_tags({TAG_TRIAL_STATE: TrialState.PRUNED.name})
            else:
                value = objective_value(settings, result.history)
                record.set_tags({TAG_TRIAL_STATE: TrialState.COMPLETE.name})
                record.log_metrics({"objective": value, "seconds_per_epoch": result.seconds_per_epoch})
        if pruned is not None:
            raise pruned
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
