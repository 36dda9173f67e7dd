"""Which tracking store: `MLFLOW_TRACKING_URI`, else `tracking.uri`, else `mlflow.db` at the root;
and where a run of it is seen in the MLflow UI.

MLflow 3.7+ defaults to a store relative to the working directory, which Hydra may change: the
default here is an absolute path. A `postgresql://` URI names the driver that is installed. No MLflow
import.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pipeline.core.config import TrackingConfig
from pipeline.core.paths import PROJECT_ROOT

# Set by DVC for every stage command: the repo DVC was started in.
DVC_ROOT_ENV = "DVC_ROOT"
# The port `make ui` serves the MLflow UI on (`python -m pipeline.tools.ui --port`).
UI_PORT = 5000


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


def run_page(uri: str, experiment_id: str, run_id: str) -> str:
    """Where a run of the store `uri` is seen: its page on a tracking server (credentials left out);
    for a store without a server, the page `make ui` serves, and the command that starts it (naming
    the store when it is not the one `make ui` opens by itself)."""
    page = f"#/experiments/{experiment_id}/runs/{run_id}"
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        host = parts.netloc.rpartition("@")[2]
        return f"{urlunsplit((parts.scheme, host, parts.path.rstrip('/'), '', ''))}/{page}"
    found_by_itself = uri in (default_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI"))
    command = "make ui" if found_by_itself else f"MLFLOW_TRACKING_URI={uri} make ui"
    return f"http://127.0.0.1:{UI_PORT}/{page} (start the UI with `{command}`)"
