"""A tracking store (SQLite file or server) and the questions the project asks it, in its own words.

Every query goes through one search helper (`Store.runs_in` / `Store.runs_where`), so how an
experiment is looked up and how many runs a search returns is decided once. Groups of runs (sweep
and DVC parents) are built on these in `pipeline.tracking.groups`.
MLflow is imported inside the methods, so stages that never track start fast.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.core.config import TrackingConfig
from pipeline.core.errors import UserError
from pipeline.tracking.connect import StoreUnusable, check_store, store_lock, without_password
from pipeline.tracking.tags import (
    EXPERIMENT_KIND_TAG,
    FAILED,
    MODEL_TRAINING_KIND,
    PARENT_TAG,
    RUNNING,
    TAG_ENDED_BECAUSE,
    TAG_ROLE,
    tag_is,
)
from pipeline.tracking.uri import artifact_location, resolve_tracking_uri, run_page, with_installed_driver

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

MAX_RESULTS = 10_000
# MLflow's own switch for the progress bar it draws per artifact download (a report downloads one
# file per run, so a sweep's output would fill with them).
PROGRESS_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def quiet_mlflow() -> None:
    """Keep MLflow's notes that are no news here out of the output: a progress bar per downloaded
    artifact (unless the environment asks for them), and the uv project it finds when it logs a
    model (whose `uv.lock` and `pyproject.toml` it copies into the model, as it should), that its
    system-metrics sampler starts and stops (`tracking.system_metrics`), and that it creates the
    tables of a new SQLite store."""
    os.environ.setdefault(PROGRESS_BAR_ENV, "false")
    for chatty in ("mlflow.utils.uv_utils", "mlflow.system_metrics", "mlflow.store.db.utils"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


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
    """A tracking store: its experiments, its runs, and the searches the project makes."""

    def __init__(self, uri: str) -> None:
        """Open the store; a new SQLite store is created and migrated by one process at a time, and
        a store that cannot work (a server that does not answer or is no MLflow, a refused password,
        a missing driver, a folder that cannot be written) is said in one line within seconds (see
        `pipeline.tracking.connect`)."""
        import mlflow
        from mlflow.exceptions import MlflowException

        quiet_mlflow()
        uri = with_installed_driver(uri)
        check_store(uri)
        self.uri = uri
        mlflow.set_tracking_uri(uri)
        with store_lock(uri):  # the client creates (and migrates) a new store
            try:
                self.client: MlflowClient = mlflow.MlflowClient(tracking_uri=uri)
            except MlflowException as exc:  # a URI of no kind MLflow knows (e.g. postgres://)
                shown, why = without_password(uri), exc.message.strip().splitlines()[0]
                raise StoreUnusable(
                    f"MLflow cannot open the tracking store {shown}: {why.replace(uri, shown)}"
                ) from None

    @classmethod
    def open(cls, cfg: TrackingConfig) -> Store:
        return cls(resolve_tracking_uri(cfg))

    # ------------------------------------------------------------ experiments

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
                return self.client.create_experiment(name, artifact_location(self.uri), tags=tags)
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

    def experiment_of(self, run_id: str) -> str:
        return self.client.get_run(run_id).info.experiment_id

    def run_page(self, run_id: str) -> str:
        """Where the run is seen in the MLflow UI, and how to open it (`uri.run_page`)."""
        return run_page(self.uri, self.experiment_of(run_id), run_id)

    # ------------------------------------------------------------ the one search

    def runs_where(
        self, experiment_ids: Sequence[str], condition: str, *, newest_first: bool = False,
        limit: int = MAX_RESULTS,
    ) -> list[TrackedRun]:  # fmt: skip
        """The runs of these experiments that meet `condition` (MLflow's search syntax)."""
        if not experiment_ids:
            return []
        found = self.client.search_runs(
            list(experiment_ids),
            filter_string=condition,
            order_by=["attributes.start_time DESC"] if newest_first else None,
            max_results=limit,
        )
        return [TrackedRun.of(run) for run in found]

    def runs_in(
        self, experiment: str, condition: str, *, newest_first: bool = False, limit: int = MAX_RESULTS,
        must_exist: bool = False,
    ) -> list[TrackedRun]:  # fmt: skip
        """`runs_where` in the experiment named `experiment`: none when it does not exist, or a
        UserError naming the store when `must_exist`."""
        if must_exist:
            return self.runs_where([self.existing_experiment_id(experiment)], condition,
                                   newest_first=newest_first, limit=limit)  # fmt: skip
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            return []
        return self.runs_where([found.experiment_id], condition, newest_first=newest_first, limit=limit)

    # ------------------------------------------------------------ runs

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

    def child_runs(self, parent_run_id: str) -> list[TrackedRun]:
        """The runs whose parent is `parent_run_id` (children live in their parent's experiment)."""
        return self.runs_where([self.experiment_of(parent_run_id)], tag_is(PARENT_TAG, parent_run_id))

    def training_runs(self, experiment: str) -> list[TrackedRun]:
        """Every training run of an existing experiment (sweep parents left out)."""
        return self.runs_in(experiment, tag_is(TAG_ROLE, "train"), must_exist=True)

    def sweeps(self, experiment: str) -> list[TrackedRun]:
        """Every sweep parent run of `experiment`, the most recently started first."""
        return self.runs_in(experiment, tag_is(TAG_ROLE, "sweep"), newest_first=True)

    def running_runs(self) -> list[TrackedRun]:
        """Every RUNNING run of the store, in every experiment."""
        experiments = [e.experiment_id for e in self.client.search_experiments(max_results=MAX_RESULTS)]
        return self.runs_where(experiments, f"attributes.status = '{RUNNING}'")

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

    def record(
        self, run_id: str, tags: Mapping[str, str] | None = None, metrics: Mapping[str, float] | None = None
    ) -> None:
        """Tags and metrics on a run, running or ended (a trial's outcome, a search's on its parent)."""
        for key, value in (tags or {}).items():
            self.client.set_tag(run_id, key, value)
        for key, number in (metrics or {}).items():
            self.client.log_metric(run_id, key, float(number))

    def log_folder(self, run_id: str, folder: Path, artifact_path: str) -> None:
        self.client.log_artifacts(run_id, str(folder), artifact_path)

    def end_stale(self, run_id: str, why: str, status: str = FAILED) -> None:
        """End a run its process can no longer end, saying why in a tag."""
        self.client.set_tag(run_id, TAG_ENDED_BECAUSE, why)
        self.client.set_terminated(run_id, status)
