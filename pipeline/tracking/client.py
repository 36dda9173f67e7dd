"""The one module that imports MLflow. Everything else asks it in the project's own words: start a
training run, log an epoch, join the run of a model, start and end a sweep, find a sweep's runs.

MLflow is imported inside the functions, so stages that never track (download, preprocess) start fast.
Which run is whose child, and which experiment a run goes to, follows from `pipeline.core.launch.Launch`.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.core.config import PROJECT_ROOT, Settings, TrackingConfig, flatten
from pipeline.core.errors import UserError
from pipeline.core.launch import Launch
from pipeline.tracking.connect import check_reachable, store_lock

if TYPE_CHECKING:
    import keras
    from mlflow import MlflowClient
    from mlflow.entities import Run

log = logging.getLogger(__name__)

TAG_ROLE = "dropout_lab.role"  # "sweep" (a parent: Hydra multirun or one DVC invocation) or "train"
TAG_SWEEP = "dropout_lab.sweep_id"
TAG_SOURCE = "dropout_lab.source"  # a launch.Source value
TAG_FINGERPRINT = "dropout_lab.data_fingerprint"
TAG_IMPL = "dropout_lab.dropout_impl"
TAG_COMMIT = "dropout_lab.git_commit"
TAG_DIRTY = "dropout_lab.git_dirty"
TAG_DVC_INVOCATION = "dropout_lab.dvc_invocation"
TAG_DVC_EXPERIMENT = "dropout_lab.dvc_experiment"
# A DVC training's batch: its experiment's baseline commit (DVC_EXP_BASELINE_REV; every experiment
# of one queued grid shares it), or the commit `dvc repro` ran on.
TAG_DVC_BASELINE = "dropout_lab.dvc_baseline"
# Where a run's process runs and when it last reported (pipeline.tracking.reconcile); why it was ended.
# The environment a training ran in (pipeline.core.environment): lock, versions, CPU, pins.
TAG_ENV_PREFIX = "dropout_lab.env."
EVAL_ARTIFACT_DIR = "eval"  # where evaluation files go inside the training's run
TAG_HOST = "dropout_lab.host"
TAG_PID = "dropout_lab.pid"
TAG_PROC_START = "dropout_lab.process_start"  # seconds since the epoch
TAG_HEARTBEAT = "dropout_lab.heartbeat"  # seconds since the epoch, updated every epoch
TAG_ENDED_BECAUSE = "dropout_lab.ended_because"
TAG_RESUMED_FROM = "dropout_lab.resumed_from"  # the run whose checkpoint a new run started from
# How a run is continued, not what it is: never a param (MLflow refuses to change a param's value).
_NOT_PARAMS = {"train.resume"}
_WHERE = {TAG_HOST, TAG_PID, TAG_PROC_START, TAG_HEARTBEAT}
PARENT_TAG = "mlflow.parentRunId"
# MLflow's UI reads this experiment tag to choose the page an experiment opens on (its JS enum
# ExperimentKind); untagged, MLflow 3.17 opens the GenAI overview (traces) instead of the runs.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
FINISHED, FAILED, KILLED, RUNNING = "FINISHED", "FAILED", "KILLED", "RUNNING"
_MAX_RESULTS = 10_000


# Set by DVC for every stage command: the repo DVC was started in.
DVC_ROOT_ENV = "DVC_ROOT"


def store_root() -> Path:
    """Where the default store lives: the repo DVC runs in, else the project root.

    A `dvc queue` worker runs the stages in a temporary clone (`.dvc/tmp/exps/tmpXXXX`, deleted
    when the experiment ends), where the project root is that clone, while DVC_ROOT still names
    the repo the queue belongs to: the trainings of queued experiments must land in its store.
    """
    return Path(os.environ.get(DVC_ROOT_ENV) or PROJECT_ROOT)


def default_tracking_uri() -> str:
    """The embedded SQLite store at the project root, whatever the working directory."""
    return f"sqlite:///{store_root() / 'mlflow.db'}"


def resolve_tracking_uri(cfg: TrackingConfig) -> str:
    """`MLFLOW_TRACKING_URI` wins, then `tracking.uri`, then the project's `mlflow.db`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or cfg.uri or default_tracking_uri()


def _artifact_location(uri: str) -> str | None:
    """Keep artifacts beside the default store (`mlartifacts/` at the root), not in the cwd."""
    return (store_root() / "mlartifacts").as_uri() if uri == default_tracking_uri() else None


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
    return {key: str(value) for key, value in flatten(settings).items() if key not in _NOT_PARAMS}


def run_name(settings: Settings) -> str:
    d = settings.model.dropout
    return f"rate={d.rate:g} seed={settings.train.seed} {d.impl}"


@dataclass(frozen=True)
class TrackedRun:
    """One run as the rest of the project sees it: plain dicts, no MLflow types."""

    run_id: str
    status: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    # Wall-clock seconds from start to end; None while the run is still going.
    seconds: float | None = None
    start_ms: int = 0

    @classmethod
    def of(cls, run: Run) -> TrackedRun:
        data, info = run.data, run.info
        seconds = None if info.end_time is None else (info.end_time - info.start_time) / 1000.0
        return cls(
            info.run_id, info.status, dict(data.params), dict(data.metrics), dict(data.tags), seconds,
            info.start_time or 0,
        )  # fmt: skip


class Store:
    """A tracking store (SQLite file or server) and the questions the project asks it."""

    def __init__(self, uri: str) -> None:
        """Open the store; a new SQLite store is created and migrated by one process at a time, and
        a server that does not answer is said to within seconds (see `pipeline.tracking.connect`)."""
        import mlflow

        check_reachable(uri)
        self.uri = uri
        mlflow.set_tracking_uri(uri)
        with store_lock(uri):  # the client creates (and migrates) a new store
            self.client: MlflowClient = mlflow.MlflowClient(tracking_uri=uri)

    @classmethod
    def open(cls, cfg: TrackingConfig) -> Store:
        return cls(resolve_tracking_uri(cfg))

    # ------------------------------------------------------------ experiments and runs

    def experiment_id(self, name: str) -> str:
        """The id of experiment `name`, created if missing: a model-training experiment, artifacts at
        the project root. Sweeps started at once into a new store race to create it; the losers use
        the one the winner made."""
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        tags = {EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND}
        with store_lock(self.uri):  # on SQLite, one process at a time; a server may still race
            try:
                return self.client.create_experiment(name, _artifact_location(self.uri), tags=tags)
            except MlflowException as error:
                if error.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                return self.existing_experiment_id(name)

    def model_training_experiment(self, name: str) -> str:
        """The id of the existing experiment `name`, tagged model-training (older stores lack it)."""
        exp_id = self.existing_experiment_id(name)
        if self.client.get_experiment(exp_id).tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING_KIND:
            self.client.set_experiment_tag(exp_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
        return exp_id

    def existing_experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is None:
            raise UserError(f"no MLflow experiment {name!r} in {self.uri}")
        return found.experiment_id

    def run(self, run_id: str) -> TrackedRun:
        """The run, or a UserError naming the store when it does not exist (a typo, another store)."""
        from mlflow.exceptions import MlflowException

        try:
            return TrackedRun.of(self.client.get_run(run_id))
        except MlflowException:
            raise UserError(f"no MLflow run {run_id!r} in {self.uri}") from None

    def has_run(self, run_id: str) -> bool:
        """Whether the run exists here (it may not after `dvc pull` on another machine)."""
        try:
            self.run(run_id)
        except UserError:
            return False
        return True

    def _experiment_of(self, run_id: str) -> str:
        return self.client.get_run(run_id).info.experiment_id

    def child_runs(self, parent_run_id: str) -> list[TrackedRun]:
        """The runs whose parent is `parent_run_id` (children live in their parent's experiment)."""
        found = self.client.search_runs(
            [self._experiment_of(parent_run_id)],
            filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}'",
            max_results=_MAX_RESULTS,
        )
        return [TrackedRun.of(run) for run in found]

    def training_runs(self, experiment: str) -> list[TrackedRun]:
        """Every training run of an experiment (sweep parents left out)."""
        found = self.client.search_runs(
            [self.existing_experiment_id(experiment)],
            filter_string=f"tags.`{TAG_ROLE}` = 'train'",
            max_results=_MAX_RESULTS,
        )
        return [TrackedRun.of(run) for run in found]

    def dvc_training_runs(self, experiment: str, param: str, value: str) -> list[TrackedRun]:
        """The training runs DVC stages made in `experiment` whose param `param` is `value`."""
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            return []
        runs = self.client.search_runs(
            [found.experiment_id],
            filter_string=f"tags.`{TAG_ROLE}` = 'train' and tags.`{TAG_SOURCE}` = 'dvc' "
            f"and params.`{param}` = '{value}'",
            max_results=_MAX_RESULTS,
        )
        return [TrackedRun.of(run) for run in runs]

    def sweeps(self, experiment: str) -> list[TrackedRun]:
        """Every sweep parent run of `experiment`, the most recently started first."""
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            return []
        return [
            TrackedRun.of(run)
            for run in self.client.search_runs(
                [found.experiment_id],
                filter_string=f"tags.`{TAG_ROLE}` = 'sweep'",
                order_by=["attributes.start_time DESC"],
                max_results=_MAX_RESULTS,
            )
        ]

    def latest_sweep(self, experiment: str) -> str | None:
        """The id of the most recently started sweep parent run in `experiment`, if any."""
        found = self.client.search_runs(
            [self.existing_experiment_id(experiment)],
            filter_string=f"tags.`{TAG_ROLE}` = 'sweep'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return found[0].info.run_id if found else None

    def history(self, run_id: str, keys: Iterable[str]) -> pd.DataFrame | None:
        """Per-epoch values of `keys` (step = epoch), with an `epoch` column; None if one is missing."""
        get = self.client.get_metric_history
        columns = {key: pd.Series({m.step: m.value for m in get(run_id, key)}, dtype=float) for key in keys}
        if any(series.empty for series in columns.values()):
            return None
        history = pd.DataFrame(columns).sort_index().dropna()
        return history.rename_axis("epoch").reset_index()

    def csv_artifact(self, run_id: str, path: str) -> pd.DataFrame | None:
        """A CSV the run logged at `path`, or None when it has none."""
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        if path not in {a.path for a in self.client.list_artifacts(run_id, folder or None)}:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            return pd.read_csv(self.client.download_artifacts(run_id, path, tmp))

    def log_folder(self, run_id: str, folder: Path, artifact_path: str) -> None:
        self.client.log_artifacts(run_id, str(folder), artifact_path)

    # ------------------------------------------------------------ groups of runs (sweeps)

    def start_sweep(
        self, experiment: str, sweep_id: str, overrides: list[str], source: str, where: Mapping[str, str]
    ) -> str:
        """The parent run of a multirun; jobs attach to it as children by id.

        Under `mlflow run -e sweep`, the entry point's run is the parent (and its experiment holds
        the children), so the project's run tree is the one MLflow Projects started.
        """
        from pipeline.core.launch import project_run

        tags = {**git_tags(), **where, TAG_ROLE: "sweep", TAG_SWEEP: sweep_id, TAG_SOURCE: source}
        existing = project_run()
        if existing:
            run_id = existing[0]
            for key, value in tags.items():
                self.client.set_tag(run_id, key, value)
        else:
            exp_id = self.experiment_id(experiment)
            run_id = self.client.create_run(exp_id, run_name=f"sweep {sweep_id}", tags=tags).info.run_id
        self.client.log_param(run_id, "sweep.overrides", " ".join(overrides))
        return run_id

    def dvc_group(
        self, experiment_id: str, invocation: str, dvc_experiment: str | None, where: Mapping[str, str]
    ) -> str:
        """The parent run of one `dvc repro` / `dvc exp run`: found by its invocation key, else made.

        Its stages run one after another, so there is no race between them; a queue worker is
        another invocation with a key of its own. It is RUNNING while one of its trainings runs,
        and says where (`where`: that training's process), so a crash there is found for both.
        """
        found = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{TAG_DVC_INVOCATION}` = '{invocation}'",
            max_results=1,
        )
        if found:
            run_id = found[0].info.run_id
            self.client.update_run(run_id, status=RUNNING)
            for key, value in where.items():
                self.client.set_tag(run_id, key, value)
            return run_id
        tags = {**git_tags(), **where, TAG_ROLE: "sweep", TAG_SOURCE: "dvc", TAG_DVC_INVOCATION: invocation}
        if dvc_experiment:
            tags[TAG_DVC_EXPERIMENT] = dvc_experiment
        name = f"dvc {dvc_experiment or 'repro'} {time.strftime('%Y-%m-%d %H:%M:%S')}"
        return self.client.create_run(experiment_id, run_name=name, tags=tags).info.run_id

    def find_dvc_group(self, experiment: str, invocation: str) -> str | None:
        found = self.client.search_runs(
            [self.experiment_id(experiment)],
            filter_string=f"tags.`{TAG_DVC_INVOCATION}` = '{invocation}'",
            max_results=1,
        )
        return found[0].info.run_id if found else None

    def end_group(self, parent_run_id: str) -> str:
        """End a parent FINISHED when every child finished, FAILED otherwise; return the status."""
        children = self.child_runs(parent_run_id)
        ok = bool(children) and all(run.status == FINISHED for run in children)
        status = FINISHED if ok else FAILED
        self.client.set_terminated(parent_run_id, status)
        return status

    def abandon_sweep(self, parent_run_id: str, interrupted_by: str | None) -> None:
        """At interpreter exit: a parent still RUNNING means the sweep died: it and its children
        still RUNNING (their processes were stopped with it) end KILLED when a signal stopped the
        sweep, FAILED otherwise."""
        if self.client.get_run(parent_run_id).info.status != RUNNING:
            return
        status = KILLED if interrupted_by else FAILED
        why = f"the sweep was stopped by {interrupted_by}" if interrupted_by else "the sweep died"
        for child in self.child_runs(parent_run_id):
            if child.status == RUNNING:
                self.end_stale(child.run_id, why, status)
        self.client.set_terminated(parent_run_id, status)

    # ------------------------------------------------ runs nobody ended (pipeline.tracking.reconcile)

    def running_runs(self) -> list[TrackedRun]:
        """Every RUNNING run of the store, in every experiment."""
        experiments = [e.experiment_id for e in self.client.search_experiments(max_results=_MAX_RESULTS)]
        if not experiments:
            return []
        found = self.client.search_runs(
            experiments, filter_string=f"attributes.status = '{RUNNING}'", max_results=_MAX_RESULTS
        )
        return [TrackedRun.of(run) for run in found]

    def end_stale(self, run_id: str, why: str, status: str = FAILED) -> None:
        """End a run its process can no longer end, saying why in a tag."""
        self.client.set_tag(run_id, TAG_ENDED_BECAUSE, why)
        self.client.set_terminated(run_id, status)


# ---------------------------------------------------------------- the active run of this process


def _training_experiment(store: Store, settings: Settings, launch: Launch, parent: str | None) -> str:
    """A child goes where its parent is; else where MLflow Projects said; else `tracking.experiment`."""
    if parent:
        return store._experiment_of(parent)
    return launch.experiment_id or store.experiment_id(settings.tracking.experiment)


@contextmanager
def training_run(
    settings: Settings, launch: Launch, tags: Mapping[str, str], resume_run_id: str | None = None
) -> Iterator[str]:
    """Start the MLflow run of one training (or log into the one `mlflow run` made, or continue
    `resume_run_id`: its status goes back to RUNNING); yield its id.

    The run ends FINISHED on success, KILLED on Ctrl-C, SIGTERM or SIGHUP and FAILED on any other
    error. A DVC training outside any sweep or entry point becomes a child of its DVC invocation's
    group run.
    """
    import mlflow

    store = Store.open(settings.tracking)
    parent = launch.parent_run_id
    group = None
    if parent is None and launch.under_dvc and launch.dvc_invocation and resume_run_id is None:
        exp_id = launch.experiment_id or store.experiment_id(settings.tracking.experiment)
        where = {key: value for key, value in tags.items() if key in _WHERE}
        group = parent = store.dvc_group(exp_id, launch.dvc_invocation, launch.dvc_experiment, where)
    all_tags = {
        **git_tags(),
        **tags,
        TAG_ROLE: "train",
        TAG_SWEEP: launch.sweep_id,
        TAG_SOURCE: launch.source.value,
        TAG_IMPL: settings.model.dropout.impl,
    }
    if launch.dvc_experiment:
        all_tags[TAG_DVC_EXPERIMENT] = launch.dvc_experiment
    if launch.under_dvc:
        all_tags[TAG_DVC_BASELINE] = launch.dvc_baseline or all_tags[TAG_COMMIT]
    params = run_params(settings)
    if resume_run_id:
        # A resumed run keeps the params it started with (MLflow refuses to change one); those that
        # decide its numbers are equal (the checkpoint's config key), others (sweep.rates, eval.*,
        # tracking.*) may have changed since, and keys added to the config since are logged.
        logged = store.run(resume_run_id).params
        params = {key: value for key, value in params.items() if key not in logged}
        run = mlflow.start_run(run_id=resume_run_id)
        if TAG_ENDED_BECAUSE in store.run(resume_run_id).tags:  # reconciliation ended it: no more
            store.client.delete_tag(resume_run_id, TAG_ENDED_BECAUSE)
    elif launch.own_run_id:
        run = mlflow.start_run(run_id=launch.own_run_id)
    else:
        # Made by the client, then activated by id: a fluent start_run() without an id would adopt
        # MLFLOW_RUN_ID, the entry point's run, which under `mlflow run -e main` is our parent.
        created = store.client.create_run(
            _training_experiment(store, settings, launch, parent),
            run_name=run_name(settings),
            tags={PARENT_TAG: parent} if parent else None,
        )
        run = mlflow.start_run(run_id=created.info.run_id)
    try:
        with ended_with_status():
            mlflow.set_tags(all_tags)
            mlflow.log_params(params)
            yield run.info.run_id
    finally:
        if group is not None:
            store.end_group(group)


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
            store.end_group(parent)


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


def active_experiment_id() -> str:
    import mlflow

    return mlflow.active_run().info.experiment_id


def log_epoch(row: Mapping[str, float], seconds: float) -> None:
    """Per-epoch loss/accuracy/val_loss/val_accuracy/gap and the epoch's time; step = epoch (1-based)."""
    import mlflow

    metrics = {key: float(value) for key, value in row.items() if key != "epoch"}
    mlflow.log_metrics({**metrics, "epoch_seconds": seconds}, step=int(row["epoch"]))


def log_dataset(name: str, fingerprint: str, sizes: Mapping[str, int], source: Path) -> None:
    """The run's data as an MLflow dataset input (the runs table's Dataset column): its name, the
    fingerprint as digest (its first 32 hex digits: MLflow keeps 36 characters), the split sizes."""
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.exceptions import MlflowException

    with warnings.catch_warnings():  # MLflow registers its local-file source twice, then warns so
        warnings.simplefilter("ignore", UserWarning)
        located = resolve_dataset_source(str(source))
    dataset = MetaDataset(source=located, name=name, digest=fingerprint[:32])
    tags = {f"{split}_size": str(n) for split, n in sizes.items()}
    try:
        mlflow.log_input(dataset, context="training", tags=tags)
    except MlflowException:
        # Parallel jobs of one experiment insert the same new dataset at once (MLflow looks it up,
        # then inserts): one wins, the others fail on its unique key. It exists now: link it again.
        mlflow.log_input(dataset, context="training", tags=tags)


def heartbeat(row: Mapping[str, float], seconds: float) -> None:
    """An epoch hook: tell reconciliation (on any host) that this run's process is alive."""
    import mlflow

    mlflow.set_tag(TAG_HEARTBEAT, f"{time.time():.3f}")


def last_logged_epoch() -> int:
    """The last epoch the active run logged (0 for none): a resumed run logs from the next one."""
    import mlflow

    run_id = mlflow.active_run().info.run_id
    steps = [m.step for m in mlflow.MlflowClient().get_metric_history(run_id, "loss")]
    return max(steps, default=0)


def log_metrics(values: Mapping[str, float]) -> None:
    import mlflow

    mlflow.log_metrics(dict(values))


def log_text(text: str, name: str) -> None:
    import mlflow

    mlflow.log_text(text, name)


def log_files(paths: Iterable[Path], artifact_dir: str | None = None) -> None:
    import mlflow

    for path in paths:
        mlflow.log_artifact(str(path), artifact_dir)


def log_keras_model(model: keras.Model, example: Any, pip_requirements: list[str]) -> None:
    """The model as an MLflow model with a signature inferred from `example` (a batch of inputs).

    The pip requirements are given, not inferred: inference reloads the model in a fresh Python
    process (about 10 s per run here, more than a whole 5-epoch training).
    """
    import mlflow
    import numpy as np
    from mlflow.models import infer_signature

    signature = infer_signature(example, np.asarray(model(example, training=False)))
    mlflow.keras.log_model(model, name="model", signature=signature, pip_requirements=pip_requirements)


def warm_up_in_background() -> threading.Thread:
    """Import what end-of-run model logging needs in a background thread, while the model trains.

    The first `mlflow.keras.log_model` of a process imports the flavor's modules and `mlflow.pyfunc`
    (some 0.4 s of pydantic model classes). Training with one TensorFlow thread leaves the
    interpreter lock and a core free most of the time, so done meanwhile it costs the run next to
    nothing. A failure only means `log_model` does the imports itself, as before.
    """

    def work() -> None:
        try:
            for module in ("mlflow.keras", "mlflow.pyfunc", "mlflow.models"):
                importlib.import_module(module)
        except Exception:
            log.debug("MLflow warm-up failed; model logging will import what it needs", exc_info=True)

    thread = threading.Thread(target=work, name="mlflow-warm-up", daemon=True)
    thread.start()
    return thread


def log_evaluation(flat_metrics: Mapping[str, float], written: Iterable[Path]) -> None:
    """An evaluation's metrics and files into the ACTIVE run (the training run, joined or open)."""
    log_metrics(flat_metrics)
    log_files(written, EVAL_ARTIFACT_DIR)
