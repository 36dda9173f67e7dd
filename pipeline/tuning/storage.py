"""Where a study lives: beside the tracking store, so one store's runs and its searches go together.

    tracking store                              study storage (Optuna RDB)
    sqlite:///<dir>/mlflow.db                   sqlite:///<dir>/optuna.db
    postgresql://<server>/<db>                  postgresql://<server>/optuna   (same server)
    http(s):// (a tracking server)              `search.storage` (its database is the server's)

Optuna keeps its own tables (and its own `alembic_version`), so it never shares MLflow's database.
No Optuna import.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pipeline.core.config import SearchConfig
from pipeline.core.errors import ConfigError
from pipeline.tracking.connect import sqlite_file

STUDY_DATABASE = "optuna"


def storage_url(search: SearchConfig, tracking_uri: str) -> str:
    """`search.storage` when set; else the study database beside the tracking store."""
    if search.storage:
        return search.storage
    database = sqlite_file(tracking_uri)
    if database is not None:
        return f"sqlite:///{database.with_name(STUDY_DATABASE + '.db')}"
    if tracking_uri.startswith("postgresql"):
        parts = urlsplit(tracking_uri)
        return urlunsplit(parts._replace(path="/" + STUDY_DATABASE))
    raise ConfigError(
        f"search.storage: the tracking store {tracking_uri} is a server whose database this process "
        "does not know: set search.storage to a database URL on it (e.g. "
        "postgresql+psycopg2://user@host:port/optuna)"
    )
