"""Parent runs that group trainings: a Hydra sweep's, and one DVC invocation's (`dvc repro`,
`dvc exp run`, a queue worker), and the DVC trainings of a batch.

A group is started, found, and ended with its children's outcome; a sweep that died is ended with
its children still RUNNING. Queries go through `pipeline.tracking.store.Store`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from pipeline.tracking.connect import store_lock
from pipeline.tracking.store import Store, TrackedRun
from pipeline.tracking.tags import (
    FAILED,
    FINISHED,
    KILLED,
    RUNNING,
    TAG_BEST_PREFIX,
    TAG_BEST_RUN,
    TAG_BEST_TRIAL,
    TAG_DVC_EXPERIMENT,
    TAG_DVC_INVOCATION,
    TAG_ENDED_BECAUSE,
    TAG_ROLE,
    TAG_SOURCE,
    TAG_STUDY,
    TAG_SWEEP,
    git_tags,
    tag_is,
)


def start_sweep(
    store: Store, experiment: str, sweep_id: str, overrides: list[str], source: str, where: Mapping[str, str]
) -> str:
    """The parent run of a multirun; jobs attach to it as children by id.

    Under `mlflow run -e sweep`, the entry point's run is the parent (and its experiment holds
    the children), so the project's run tree is the one MLflow Projects started.
    """
    from pipeline.process.launch import project_run

    tags = {**git_tags(), **where, TAG_ROLE: "sweep", TAG_SWEEP: sweep_id, TAG_SOURCE: source}
    existing = project_run()
    if existing:
        run_id = existing[0]
        for key, value in tags.items():
            store.client.set_tag(run_id, key, value)
    else:
        exp_id = store.experiment_id(experiment)
        run_id = store.client.create_run(exp_id, run_name=f"sweep {sweep_id}", tags=tags).info.run_id
    store.client.log_param(run_id, "sweep.overrides", " ".join(overrides))
    return run_id


def dvc_group(
    store: Store, experiment_id: str, invocation: str, dvc_experiment: str | None, where: Mapping[str, str]
) -> str:
    """The parent run of one `dvc repro` / `dvc exp run`: found by its invocation key, else made.

    A queue worker is another invocation with a key of its own; `make run` runs the trainings of
    one invocation side by side, so two may look for the parent at once. On SQLite they take turns
    (the store's set-up lock): the first makes it, the others find it. A server has no such lock:
    there both may make one, and each then keeps the oldest and deletes its own other one. It is
    RUNNING while one of its trainings runs, and says where (`where`: that training's process), so
    a crash there is found for both.
    """
    with store_lock(store.uri):
        found = _groups_of(store, experiment_id, invocation)
        if found:
            run_id = found[0].run_id
            store.client.update_run(run_id, status=RUNNING)
            for key, value in where.items():
                store.client.set_tag(run_id, key, value)
            return run_id
        tags = {**git_tags(), **where, TAG_ROLE: "sweep", TAG_SOURCE: "dvc", TAG_DVC_INVOCATION: invocation}
        if dvc_experiment:
            tags[TAG_DVC_EXPERIMENT] = dvc_experiment
        name = f"dvc {dvc_experiment or 'repro'} {time.strftime('%Y-%m-%d %H:%M:%S')}"
        made = store.client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
    oldest = _groups_of(store, experiment_id, invocation)[0].run_id
    if oldest != made:
        store.client.delete_run(made)
    return oldest


def _groups_of(store: Store, experiment_id: str, invocation: str) -> list[TrackedRun]:
    """The parent runs made for `invocation`, oldest first (ties by run id): the first one is it."""
    found = store.runs_where([experiment_id], tag_is(TAG_DVC_INVOCATION, invocation))
    return sorted(found, key=lambda run: (run.start_ms, run.run_id))


def find_dvc_group(store: Store, experiment: str, invocation: str) -> str | None:
    """The parent run of DVC invocation `invocation` in `experiment`, if its trainings made one."""
    found = store.runs_in(experiment, tag_is(TAG_DVC_INVOCATION, invocation), limit=1)
    return found[0].run_id if found else None


def dvc_training_runs(store: Store, experiment: str, param: str, value: str) -> list[TrackedRun]:
    """The training runs DVC stages made in `experiment` whose param `param` is `value`."""
    condition = (
        f"{tag_is(TAG_ROLE, 'train')} and {tag_is(TAG_SOURCE, 'dvc')} and params.`{param}` = '{value}'"
    )
    return store.runs_in(experiment, condition)


def end_group(store: Store, parent_run_id: str) -> str:
    """End a parent FINISHED when every child finished, FAILED otherwise; return the status.
    While another child still runs (trainings side by side) it stays RUNNING: the last one ends it."""
    children = store.child_runs(parent_run_id)
    if any(run.status == RUNNING for run in children):
        return RUNNING
    ok = bool(children) and all(run.status == FINISHED for run in children)
    status = FINISHED if ok else FAILED
    store.client.set_terminated(parent_run_id, status)
    return status


def abandon_sweep(store: Store, parent_run_id: str, interrupted_by: str | None) -> None:
    """At interpreter exit: a parent still RUNNING means the sweep died: it and its children
    still RUNNING (their processes were stopped with it) end KILLED when a signal stopped the
    sweep, FAILED otherwise."""
    if store.run(parent_run_id).status != RUNNING:
        return
    status = KILLED if interrupted_by else FAILED
    why = f"the sweep was stopped by {interrupted_by}" if interrupted_by else "the sweep died"
    for child in store.child_runs(parent_run_id):
        if child.status == RUNNING:
            store.end_stale(child.run_id, why, status)
    store.client.set_terminated(parent_run_id, status)


def start_search(
    store: Store, experiment: str, study: str, overrides: list[str], source: str, where: Mapping[str, str]
) -> str:
    """The parent run of a hyperparameter search (role `search`): its trials attach to it by id."""
    tags = {**git_tags(), **where, TAG_ROLE: "search", TAG_STUDY: study, TAG_SOURCE: source}
    exp_id = store.experiment_id(experiment)
    name = f"search {study} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    run_id = store.client.create_run(exp_id, run_name=name, tags=tags).info.run_id
    store.client.log_param(run_id, "search.overrides", " ".join(overrides))
    return run_id


def reopen(store: Store, run_id: str, where: Mapping[str, str]) -> None:
    """A stopped parent continues (a resumed search): RUNNING again, in this process."""
    store.client.update_run(run_id, status=RUNNING)
    for key, value in where.items():
        store.client.set_tag(run_id, key, value)
    if TAG_ENDED_BECAUSE in store.run(run_id).tags:
        store.client.delete_tag(run_id, TAG_ENDED_BECAUSE)


def record_search_result(
    store: Store,
    parent_run_id: str,
    best: Mapping[str, float],
    best_trial: int,
    best_run_id: str | None,
    metrics: Mapping[str, float],
    artifacts: Path | None,
) -> None:
    """The search's outcome on its parent: the best values as tags (a resumed search may change
    them; params cannot change), the best trial and its run, counts and best loss as metrics, and
    the folder `artifacts` (plots, trials table) under `search/`."""
    tags = {TAG_BEST_PREFIX + key: f"{value:.6g}" for key, value in best.items()}
    tags[TAG_BEST_TRIAL] = str(best_trial)
    if best_run_id:
        tags[TAG_BEST_RUN] = best_run_id
    store.record(parent_run_id, tags, metrics)
    if artifacts is not None:
        store.log_folder(parent_run_id, artifacts, "search")


def end_run(store: Store, run_id: str, status: str) -> None:
    store.client.set_terminated(run_id, status)
