"""Which tracking store: `MLFLOW_TRACKING_URI`, else `tracking.uri`, else `mlflow.db` at the root.

MLflow 3.7+ defaults to a store relative to the working directory, which Hydra may change: the
default here is an absolute path. A `postgresql://` URI names the driver that is installed. No MLflow
import.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

from pipeline.core.config import TrackingConfig
from pipeline.core.paths import PROJECT_ROOT

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
    return with_installed_driver(os.environ.get("MLFLOW_TRACKING_URI") or cfg.uri or default_tracking_uri())


def with_installed_driver(uri: str) -> str:
    """`postgresql://` as `postgresql+psycopg2://` where only psycopg2 is installed (the server extra).

    SQLAlchemy 2.1 reads a bare `postgresql://` as psycopg 3, and fails on connect without it; the
    two drivers reach the same database. Any other URI is returned as it is."""
    scheme, sep, rest = uri.partition("://")
    if sep and scheme.lower() == "postgresql" and find_spec("psycopg") is None and find_spec("psycopg2"):
        return f"postgresql+psycopg2://{rest}"
    return uri


def artifact_location(uri: str) -> str | None:
    """Keep artifacts beside the default store (`mlartifacts/` at the root), not in the cwd."""
    return (store_root() / "mlartifacts").as_uri() if uri == default_tracking_uri() else None
