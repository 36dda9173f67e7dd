"""This process's active MLflow run: start a training's run (or continue one), join the run that
trained a model, and end it with the status the body earned.

Which run is whose child, and which experiment a run goes to, follows from
`pipeline.process.launch.Launch`. What goes into the active run is `pipeline.tracking.record`'s job.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.core.atomic import write_json_atomic
from pipeline.core.config import Settings, TrackingConfig, flatten
from pipeline.core.errors import UserError
from pipeline.process.launch import Launch
from pipeline.tracking import groups
from pipeline.tracking.store import Store
from pipeline.tracking.tags import (
    FAILED,
    FINISHED,
    KILLED,
    PARENT_TAG,
    TAG_COMMIT,
    TAG_DVC_BASELINE,
    TAG_DVC_EXPERIMENT,
    TAG_DVC_INVOCATION,
    TAG_ENDED_BECAUSE,
    TAG_IMPL,
    TAG_ROLE,
    TAG_SOURCE,
    TAG_SWEEP,
    WHERE_TAGS,
    git_tags,
)
from pipeline.tracking.uri import resolve_tracking_uri

if TYPE_CHECKING:
    from mlflow import ActiveRun

# How a run is continued, not what it is: never a param (MLflow refuses to change a param's value).
_NOT_PARAMS = {"train.resume"}
# The user's `tags` are the run's tags, not params.
_TAGS = "tags."


def run_params(settings: Settings) -> dict[str, str]:
    """The whole config as MLflow params with dotted keys; values as text (MLflow stores text)."""
    flat = flatten(settings)
    return {
        key: str(value) for key, value in flat.items() if key not in _NOT_PARAMS and not key.startswith(_TAGS)
    }


def run_name(settings: Settings) -> str:
    d = settings.model.dropout
    return f"rate={d.rate:g} seed={settings.train.seed} {d.impl}"


def _training_experiment(store: Store, settings: Settings, launch: Launch, parent: str | None) -> str:
    """A child goes where its parent is; else where MLflow Projects said; else `tracking.experiment`."""
    if parent:
        return store.experiment_of(parent)
    return launch.experiment_id or store.experiment_id(settings.tracking.experiment)


@contextmanager
def training_run(
    settings: Settings,
    launch: Launch,
    tags: Mapping[str, str],
    resume_run_id: str | None = None,
    role: str = "train",
) -> Iterator[str]:
    """Start the MLflow run of one training (or log into the one `mlflow run` made, or continue
    `resume_run_id`: its status goes back to RUNNING); yield its id.

    The run ends FINISHED on success, KILLED on Ctrl-C, SIGTERM or SIGHUP and FAILED on any other
    error. A DVC training outside any sweep or entry point becomes a child of its DVC invocation's
    group run. `role` is its `dropout_lab.role` tag (`trial` for a search's trainings).
    """
    import mlflow

    store = Store.open(settings.tracking)
    parent = launch.parent_run_id
    group = None
    if parent is None and launch.under_dvc and launch.dvc_invocation and resume_run_id is None:
        exp_id = launch.experiment_id or store.experiment_id(settings.tracking.experiment)
        where = {**settings.tags, **{key: value for key, value in tags.items() if key in WHERE_TAGS}}
        group = parent = groups.dvc_group(store, exp_id, launch.dvc_invocation, launch.dvc_experiment, where)
    all_tags = {
        **settings.tags,
        **git_tags(),
        **tags,
        TAG_ROLE: role,
        TAG_SWEEP: launch.sweep_id,
        TAG_SOURCE: launch.source.value,
        TAG_IMPL: settings.model.dropout.impl,
    }
    if launch.dvc_experiment:
        all_tags[TAG_DVC_EXPERIMENT] = launch.dvc_experiment
    if launch.under_dvc:
        all_tags[TAG_DVC_BASELINE] = launch.dvc_baseline or all_tags[TAG_COMMIT]
    params = run_params(settings)
    # MLflow's sampler of CPU, memory, disk and network (`system/...` metrics), while the run is active.
    system_metrics = settings.tracking.system_metrics
    if resume_run_id:
        # A resumed run keeps the params it started with (MLflow refuses to change one); those that
        # decide its numbers are equal (the checkpoint's config key), others (sweep.rates, eval.*,
        # tracking.*) may have changed since, and keys added to the config since are logged.
        logged = store.run(resume_run_id).params
        params = {key: value for key, value in params.items() if key not in logged}
        run = mlflow.start_run(run_id=resume_run_id, log_system_metrics=system_metrics)
        if TAG_ENDED_BECAUSE in store.run(resume_run_id).tags:  # reconciliation ended it: no more
            store.client.delete_tag(resume_run_id, TAG_ENDED_BECAUSE)
    elif launch.own_run_id:
        run = mlflow.start_run(run_id=launch.own_run_id, log_system_metrics=system_metrics)
    else:
        # Made by the client, then activated by id: a fluent start_run() without an id would adopt
        # MLFLOW_RUN_ID, the entry point's run, which under `mlflow run -e main` is our parent.
        created = store.client.create_run(
            _training_experiment(store, settings, launch, parent),
            run_name=run_name(settings),
            tags={PARENT_TAG: parent} if parent else None,
        )
        run = mlflow.start_run(run_id=created.info.run_id, log_system_metrics=system_metrics)
    try:
        with ended_with_status():
            mlflow.set_tags(all_tags)
            mlflow.log_params(params)
            yield run.info.run_id
    finally:
        if group is not None:
            groups.end_group(store, group)


def hand_over(path: Path, tracking: TrackingConfig) -> None:
    """Write the active run's id and store to `path`, for the evaluation that joins it: beside the
    model folder, not in it (under DVC that folder is an output, and a run id in it would give every
    training of the same config another hash)."""
    info = _active().info
    hand = {"run_id": info.run_id, "experiment_id": info.experiment_id}
    write_json_atomic(path, {**hand, "tracking_uri": resolve_tracking_uri(tracking)})


def trained_in(path: Path) -> tuple[str, str] | None:
    """(run id, tracking URI) of the run that handed over `path`, if its store has it.

    None when the hand-over is missing (the model came from `dvc pull` or another clone) or the
    run is not in the store it names. A damaged hand-over is a UserError naming it.
    """
    if not path.is_file():
        return None
    try:
        hand = json.loads(path.read_text())
        run_id, uri = hand["run_id"], hand["tracking_uri"]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UserError(
            f"{path} is damaged ({type(exc).__name__}: {exc}): delete it to evaluate without "
            "logging to MLflow, or train again"
        ) from None
    return (run_id, uri) if Store(uri).has_run(run_id) else None


@contextmanager
def joined_run(run_id: str, tracking_uri: str) -> Iterator[str]:
    """Log more into an existing run (evaluation joins the run that trained the model)."""
    import mlflow

    store = Store(tracking_uri)
    mlflow.start_run(run_id=run_id)
    try:
        with ended_with_status():
            yield run_id
    finally:
        # A DVC evaluation that failed fails its training run: its DVC group must say so too.
        parent = store.run(run_id).tags.get(PARENT_TAG)
        if parent and TAG_DVC_INVOCATION in store.run(parent).tags:
            groups.end_group(store, parent)


@contextmanager
def ended_with_status() -> Iterator[None]:
    """End the active run FINISHED, or KILLED / FAILED when the body is interrupted or raises."""
    import mlflow

    try:
        yield
    except KeyboardInterrupt:
        mlflow.end_run(KILLED)
        raise
    except BaseException:
        mlflow.end_run(FAILED)
        raise
    mlflow.end_run(FINISHED)


def _active() -> ActiveRun:
    import mlflow

    run = mlflow.active_run()
    assert run is not None, "called outside an MLflow run"
    return run


def last_logged_epoch() -> int:
    """The last epoch the active run logged (0 for none): a resumed run logs from the next one."""
    import mlflow

    run_id = _active().info.run_id
    steps = [m.step for m in mlflow.MlflowClient().get_metric_history(run_id, "loss")]
    return max(steps, default=0)
