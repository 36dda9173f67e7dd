"""The one place that talks to MLflow: store location, run naming, params, tags, parent/child runs.

MLflow is imported lazily so stages that never track (download, preprocess) start fast.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.config import PROJECT_ROOT, Settings, TrackingConfig, flatten

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

PARENT_RUN_ENV = "DROPOUT_LAB_PARENT_RUN_ID"
SWEEP_ID_ENV = "DROPOUT_LAB_SWEEP_ID"
TAG_ROLE = "dropout_lab.role"  # "sweep" (parent) or "train"
TAG_SWEEP = "dropout_lab.sweep_id"
TAG_SOURCE = "dropout_lab.source"  # "dvc", "hydra" or "mlflow-project"
TAG_FINGERPRINT = "dropout_lab.data_fingerprint"
TAG_IMPL = "dropout_lab.dropout_impl"
TAG_COMMIT = "dropout_lab.git_commit"
TAG_DIRTY = "dropout_lab.git_dirty"


def default_tracking_uri() -> str:
    """The embedded SQLite store at the project root, whatever the working directory."""
    return f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"


def resolve_tracking_uri(cfg: TrackingConfig) -> str:
    """`MLFLOW_TRACKING_URI` wins, then `tracking.uri`, then the project's `mlflow.db`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or cfg.uri or default_tracking_uri()


def _artifact_location(uri: str) -> str | None:
    """Keep artifacts beside the default store (`mlartifacts/` at the root), not in the cwd."""
    return (PROJECT_ROOT / "mlartifacts").as_uri() if uri == default_tracking_uri() else None


def client_for(cfg: TrackingConfig) -> MlflowClient:
    import mlflow

    uri = resolve_tracking_uri(cfg)
    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri)


def experiment_id(client: MlflowClient, name: str) -> str:
    """The id of experiment `name`, created (with artifacts at the project root) if missing."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=_artifact_location(client.tracking_uri))


def git_tags(root: os.PathLike[str] | str = PROJECT_ROOT) -> dict[str, str]:
    """The commit the code came from and whether the tree had uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {TAG_COMMIT: "unknown"}
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {TAG_COMMIT: commit, TAG_DIRTY: str(dirty).lower()}


def run_params(settings: Settings) -> dict[str, str]:
    """The whole config as MLflow params with dotted keys; values as text (MLflow stores text)."""
    return {key: str(value) for key, value in flatten(settings).items()}


def run_name(settings: Settings) -> str:
    d = settings.model.dropout
    return f"rate={d.rate:g} seed={settings.train.seed} {d.impl}"


def warm_up_in_background() -> threading.Thread:
    """Prepare end-of-run model logging in a background thread, while the model trains.

    The first `mlflow.keras.log_model` of a process imports the flavor's modules and `mlflow.pyfunc`,
    and maps every installed package to its modules (to check the pinned requirements): about
    0.7 s, some 10% of a 5-epoch run. Training with one TensorFlow thread leaves the interpreter
    lock and a core free most of the time, so done meanwhile it costs the run next to nothing.
    Failures only mean the work is done later, by `log_model` itself.
    """

    def work() -> None:
        try:
            # mlflow.pyfunc: log_model loads it lazily, some 0.4 s of pydantic model classes.
            for module in ("mlflow.keras", "mlflow.pyfunc", "mlflow.models"):
                importlib.import_module(module)
            from mlflow.utils import requirements_utils

            requirements_utils._init_modules_to_packages_map()
        except Exception:  # a private MLflow helper may move: then log_model does it, as before
            log.debug("MLflow warm-up failed; model logging will do it", exc_info=True)

    thread = threading.Thread(target=work, name="mlflow-warm-up", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class SweepContext:
    """How a training run relates to others: its parent run, and the run `mlflow run` made for it."""

    parent_run_id: str | None
    sweep_id: str
    source: str
    resume_run_id: str | None = None

    @classmethod
    def from_env(cls, source: str) -> SweepContext:
        """Read the hand-over from the environment.

        A Hydra multirun passes its parent's id to its jobs (also in other processes). Under
        `mlflow run`, MLFLOW_RUN_ID is the entry point's run: a single training logs into it,
        while the DVC pipeline's trainings become its children.
        """
        parent = os.environ.get(PARENT_RUN_ENV) or None
        project_run = os.environ.get("MLFLOW_RUN_ID") or None
        sweep_id = os.environ.get(SWEEP_ID_ENV, "")
        if project_run and parent is None and source == "dvc":
            return cls(project_run, sweep_id, source)
        if project_run and parent is None:
            return cls(None, sweep_id, "mlflow-project", resume_run_id=project_run)
        return cls(parent, sweep_id, source)


@contextmanager
def training_run(settings: Settings, context: SweepContext, tags: dict[str, str]) -> Iterator[str]:
    """Start (or resume, under `mlflow run`) the run of one training; yield its id.

    The run ends FINISHED on success, KILLED on Ctrl-C and FAILED on any other error, never RUNNING.
    """
    import mlflow

    client = client_for(settings.tracking)
    all_tags = {
        **git_tags(),
        **tags,
        TAG_ROLE: "train",
        TAG_SWEEP: context.sweep_id,
        TAG_SOURCE: context.source,
        TAG_IMPL: settings.model.dropout.impl,
    }
    if context.resume_run_id:
        run = mlflow.start_run(run_id=context.resume_run_id)
    else:
        run = mlflow.start_run(
            experiment_id=experiment_id(client, settings.tracking.experiment),
            run_name=run_name(settings),
            parent_run_id=context.parent_run_id,
        )
    with ended_with_status(run.info.run_id):
        mlflow.set_tags(all_tags)
        mlflow.log_params(run_params(settings))
        yield run.info.run_id


@contextmanager
def resumed_run(run_id: str, tracking_uri: str) -> Iterator[str]:
    """Log more into an existing run (evaluation joins the run that trained the model)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.start_run(run_id=run_id)
    with ended_with_status(run_id):
        yield run_id


@contextmanager
def ended_with_status(run_id: str) -> Iterator[None]:
    """End the active run FINISHED, or KILLED / FAILED when the body is interrupted or raises."""
    import mlflow

    try:
        yield
    except KeyboardInterrupt:
        mlflow.end_run("KILLED")
        raise
    except BaseException:
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")


def start_sweep(cfg: TrackingConfig, sweep_id: str, overrides: list[str]) -> str:
    """Create the parent run of a multirun; jobs attach to it as children by id."""
    client = client_for(cfg)
    exp_id = experiment_id(client, cfg.experiment)
    # `mlflow run . -e sweep` made a run already: it becomes the parent, and the jobs must not
    # inherit its id (they would all log into it).
    existing = os.environ.pop("MLFLOW_RUN_ID", None)
    tags = {**git_tags(), TAG_ROLE: "sweep", TAG_SWEEP: sweep_id, TAG_SOURCE: "hydra"}
    if existing:
        run_id = existing
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
    else:
        run_id = client.create_run(exp_id, run_name=f"sweep {sweep_id}", tags=tags).info.run_id
    client.log_param(run_id, "sweep.overrides", " ".join(overrides))
    return run_id


def end_sweep(cfg: TrackingConfig, parent_run_id: str) -> str:
    """End the parent FINISHED when every child finished, FAILED otherwise; return the status."""
    client = client_for(cfg)
    children = child_runs(client, parent_run_id)
    ok = bool(children) and all(run.info.status == "FINISHED" for run in children)
    status = "FINISHED" if ok else "FAILED"
    client.set_terminated(parent_run_id, status)
    return status


def abandon_sweep(cfg: TrackingConfig, parent_run_id: str) -> None:
    """At interpreter exit: a parent still RUNNING means the sweep died (KILLED on Ctrl-C)."""
    client = client_for(cfg)
    if client.get_run(parent_run_id).info.status != "RUNNING":
        return
    interrupted = getattr(sys, "last_type", None) is KeyboardInterrupt
    client.set_terminated(parent_run_id, "KILLED" if interrupted else "FAILED")


def child_runs(client: MlflowClient, parent_run_id: str) -> list[Any]:
    parent = client.get_run(parent_run_id)
    return client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        max_results=10_000,
    )
