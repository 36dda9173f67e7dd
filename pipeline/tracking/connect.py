"""First contact with the tracking store, made safe: a lock for SQLite, one clear line for a store
that cannot work.

MLflow creates and migrates a new SQLite store in whichever process touches it first, with no lock:
processes starting together on a fresh store corrupt it (`table _alembic_tmp_latest_metrics already
exists`), and two may create the same experiment. An inter-process file lock beside the database
serialises that first use. A server URI needs none (the server owns its database).

`check_store` looks at a URI before MLflow does, since MLflow meets each of these problems deep in a
call, as a traceback, or retries for minutes: a server nobody answers, a web server that is not
MLflow (its health and version endpoints say), a password the server refuses, a database driver
that is not installed, a folder that cannot be written. MLflow is imported only to ask a server
with its own credentials (environment or `~/.mlflow/credentials`).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from urllib.parse import unquote, urlsplit

from filelock import FileLock, Timeout

from pipeline.core.errors import UserError

SQLITE_PREFIX = "sqlite:///"
WAIT_S = 300.0


class StoreLockError(UserError):
    """Another process held the store's lock for longer than any store set-up takes."""


def sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (relative to the working directory, as MLflow reads it)."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    return Path(uri[len(SQLITE_PREFIX) :].split("?", 1)[0])


def lock_file(uri: str) -> Path | None:
    database = sqlite_file(uri)
    return None if database is None else database.with_name(database.name + ".lock")


class _Held(AbstractContextManager[None]):
    def __init__(self, path: Path, wait_s: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path, self._wait = path, wait_s
        self._lock = FileLock(str(path), timeout=wait_s)

    def __enter__(self) -> None:
        try:
            self._lock.acquire()
        except Timeout:
            raise StoreLockError(
                f"waited {self._wait:g} s for {self._path}, held by another process setting up the "
                "tracking store: if no such process runs, delete the lock file"
            ) from None

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def store_lock(uri: str, wait_s: float = WAIT_S) -> AbstractContextManager[None]:
    """Hold the store's set-up lock (a no-op for non-SQLite URIs)."""
    path = lock_file(uri)
    return nullcontext() if path is None else _Held(path, wait_s)


class StoreUnreachable(UserError):
    """The tracking server does not answer."""


class StoreUnusable(UserError):
    """The tracking URI names something MLflow cannot use as a store: one line says why."""


def check_store(uri: str) -> None:
    """Raise `StoreUnreachable` or `StoreUnusable` when the store `uri` names cannot work; a URI of a
    kind not checked here (a plugin's, say) is left to MLflow."""
    scheme = urlsplit(uri).scheme.lower()
    if scheme in ("http", "https"):
        check_reachable(uri)
        check_mlflow_answers(uri)
    elif scheme == "sqlite":
        database = sqlite_file(uri)
        if database is not None and str(database) != ":memory:":
            _check_writable(uri, database.parent, database)
    elif scheme in ("", "file"):
        _check_file_store(uri)
    elif scheme.split("+")[0] in DATABASES:
        check_database(uri)


def without_password(uri: str) -> str:
    """The URI as it can be shown: a password in it replaced by `***`."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    return uri.replace(f":{parts.password}@", ":***@", 1)


PROBE_TIMEOUT_S = 5.0  # one request
PROBE_WINDOW_S = 10.0  # retries until then: a server restarting (seconds) is waited for
# Answers of a proxy whose server is (re)starting: waited for like silence.
NOT_YET = (502, 503, 504)


def check_reachable(uri: str, timeout_s: float = PROBE_TIMEOUT_S, window_s: float = PROBE_WINDOW_S) -> None:
    """Raise `StoreUnreachable` unless an http(s) server answers within about `window_s`, and
    `StoreUnusable` unless it answers as MLflow does: `GET /health` gives 200 `OK` (no
    credentials needed, also behind MLflow's basic auth). Other URIs (files, databases) pass."""
    if not uri.startswith(("http://", "https://")):
        return
    health = uri.rstrip("/") + "/health"
    deadline = time.monotonic() + window_s
    while True:
        try:
            with urllib.request.urlopen(health, timeout=timeout_s) as answer:
                body = answer.read(64)
            if body.strip() != b"OK":
                raise StoreUnusable(_not_mlflow(uri, f"GET {health} gave {body[:40]!r}"))
            return
        except urllib.error.HTTPError as exc:
            if exc.code in NOT_YET and time.monotonic() + 1.0 < deadline:
                time.sleep(1.0)
                continue
            raise StoreUnusable(_not_mlflow(uri, f"GET {health} gave HTTP {exc.code} {exc.reason}")) from None
        except (urllib.error.URLError, OSError) as exc:
            if time.monotonic() + 1.0 < deadline:
                time.sleep(1.0)
                continue
            reason = getattr(exc, "reason", exc)
            raise StoreUnreachable(
                f"the tracking server {uri} does not answer ({reason}): start it (`make server`), or "
                "point MLFLOW_TRACKING_URI / tracking.uri at one that runs"
            ) from None


def _not_mlflow(uri: str, answer: str) -> str:
    return (
        f"the tracking URI {uri} answers HTTP, but not as an MLflow server ({answer}; MLflow answers "
        "200 OK): point MLFLOW_TRACKING_URI / tracking.uri at an `mlflow server` (host and port)"
    )


def check_mlflow_answers(uri: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Ask the server its MLflow version with the credentials MLflow will use (the environment's
    MLFLOW_TRACKING_USERNAME / _PASSWORD / _TOKEN, or `~/.mlflow/credentials`): a server with
    basic auth answers 401 to a wrong or missing password, a web server that is not MLflow
    answers no version."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    creds = get_default_host_creds(uri.rstrip("/"))
    try:
        answer = http_request(
            creds, "/version", "GET", max_retries=0, timeout=timeout_s, raise_on_status=False
        )
    except MlflowException as exc:
        raise StoreUnreachable(f"the tracking server {uri} does not answer ({exc.message})") from None
    if answer.status_code == 401:
        who = f"refused the password of user {creds.username!r}" if creds.username else "asks for a user"
        raise StoreUnusable(
            f"the tracking server {uri} {who} (HTTP 401): set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD to an account of it (`make server AUTH=1` keeps its admin's in "
            "server/credentials)"
        )
    if answer.status_code != 200 or not re.match(r"\d+\.\d+", answer.text.strip()):
        raise StoreUnusable(
            _not_mlflow(uri, f"GET /version gave HTTP {answer.status_code} {answer.text[:40]!r}")
        )


def _check_writable(uri: str, folder: Path, store: Path) -> None:
    """The store's folder takes new files (SQLite writes a journal beside its database), and the
    store itself, when it exists, opens for writing."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        if store.is_file():
            with store.open("r+b"):
                pass
    except OSError as exc:
        where = store if store.is_file() and folder.is_dir() else folder
        raise StoreUnusable(
            f"the tracking store {uri} cannot be written: {where} ({exc.strerror or exc}): point "
            "MLFLOW_TRACKING_URI / tracking.uri at a folder you can write, or unset both for the "
            "project's mlflow.db"
        ) from None


# MLflow's own switch for the folder store it no longer develops (`./mlruns`, `file:` URIs).
ALLOW_FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"


def _check_file_store(uri: str) -> None:
    """A folder store (`file:///path` or a plain path): writable, and allowed by MLflow."""
    folder = Path(unquote(urlsplit(uri).path) if uri.startswith("file:") else uri)
    if os.environ.get(ALLOW_FILE_STORE_ENV, "").lower() not in ("true", "1"):
        raise StoreUnusable(
            f"the tracking store {uri} is a folder, which MLflow no longer keeps runs in: use "
            f"sqlite:///{folder.resolve() / 'mlflow.db'} (or set {ALLOW_FILE_STORE_ENV}=true)"
        )
    _check_writable(uri, folder, folder)


# Database URIs MLflow opens with SQLAlchemy (`dialect[+driver]://...`).
DATABASES = ("postgresql", "mysql", "mssql")
# The package that brings a driver module SQLAlchemy imports, where its name says too little.
DRIVER_PACKAGES = {
    "psycopg2": "psycopg2-binary (the server extra: `uv sync --extra server`)",
    "psycopg": "psycopg2-binary (the server extra: `uv sync --extra server`) or 'psycopg[binary]'",
    "MySQLdb": "mysqlclient, or PyMySQL and write mysql+pymysql://",
    "pymysql": "PyMySQL",
    "pyodbc": "pyodbc",
}


# Seconds a connection may take, per dialect (their drivers' own option; MLflow sets none).
CONNECT_TIMEOUT = {"postgresql": {"connect_timeout": 5}, "mysql": {"connect_timeout": 5}}


def check_database(uri: str) -> None:
    """The database driver SQLAlchemy picks for `uri` is installed (it imports it only on connect,
    deep inside MLflow), and the database takes one connection (MLflow retries a refused one for
    minutes, a warning each time). Messages show the URI without its password."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
    from sqlalchemy.pool import NullPool

    try:
        url = make_url(uri)
        shown = url.render_as_string(hide_password=True)
        dialect = url.get_dialect()
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreUnusable(f"the tracking URI is not a database URL SQLAlchemy knows: {exc}") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        module = exc.name or str(exc)
        package = DRIVER_PACKAGES.get(module, f"the package that provides {module}")
        raise StoreUnusable(
            f"the tracking store {shown} needs the database driver {module}, which is not installed: "
            f"install {package}"
        ) from None
    engine = create_engine(
        url, poolclass=NullPool, connect_args=CONNECT_TIMEOUT.get(url.get_backend_name(), {})
    )
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreUnreachable(f"the tracking database {shown} takes no connection: {cause}") from None
    finally:
        engine.dispose()
