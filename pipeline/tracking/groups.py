"""Parent runs that group trainings: a Hydra sweep's, `make run`'s, one DVC invocation's (`dvc repro`,
`dvc exp run`, a queue worker), a search's; and the DVC trainings of a batch.

A group is started, found, and ended with its children's outcome; a sweep that died is ended with
its children still RUNNING. Queries go through `pipeline.tracking.store.Store`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

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


def start_dvc_group(
    store: Store, experiment_id: str, where: Mapping[str, str], invocation: str | None = None,
    dvc_experiment: str | None = None,
) -> str:  # fmt: skip
    """A new parent run for DVC trainings: one `dvc repro` / `dvc exp run` (by its `invocation`
    key), or what `make run` starts side by side. `where` says which process keeps it RUNNING."""
    tags = {**git_tags(), **where, TAG_ROLE: "sweep", TAG_SOURCE: "dvc"}
    if invocation:
        tags[TAG_DVC_INVOCATION] = invocation
    if dvc_experiment:
        tags[TAG_DVC_EXPERIMENT] = dvc_experiment
    name = f"dvc {dvc_experiment or 'repro'} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    return store.client.create_run(experiment_id, run_name=name, tags=tags).info.run_id


def dvc_group(
    store: Store, experiment_id: str, invocation: str, dvc_experiment: str | None, where: Mapping[str, str]
) -> str:
    """The parent run of one `dvc repro` / `dvc exp run` (a queue worker is another invocation).
    Its stages run one after another: its first training makes the parent, later ones find it by the
    invocation's key and make it RUNNING again, saying where (`where`: that training's process)."""
    found = store.runs_where([experiment_id], tag_is(TAG_DVC_INVOCATION, invocation), limit=1)
    if not found:
        return start_dvc_group(store, experiment_id, where, invocation, dvc_experiment)
    reopen(store, found[0].run_id, where)
    return found[0].run_id


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


def close_dvc_group(store: Store, parent_run_id: str) -> None:
    """`make run`'s parent, once every stage has run: ended with its trainings' outcome, or deleted
    when nothing was trained (an up-to-date pipeline leaves no empty parent)."""
    if store.child_runs(parent_run_id):
        end_group(store, parent_run_id)
    else:
        store.client.delete_run(parent_run_id)


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
    """A parent still RUNNING when its process gives up means its sweep (or `make run`) died: it and
    its children still RUNNING (their processes were stopped with it) end KILLED when a signal
    stopped it, FAILED otherwise."""
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
