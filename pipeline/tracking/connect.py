"""First contact with the tracking store, made safe: a lock for SQLite, a quick answer for a server.

MLflow creates and migrates a new SQLite store in whichever process touches it first, with no lock:
processes starting together on a fresh store corrupt it (`table _alembic_tmp_latest_metrics already
exists`), and two may create the same experiment. An inter-process file lock beside the database
serialises that first use. A server URI needs none (the server owns its database), but a server
nobody answers would have MLflow retry for minutes: one short probe says so in seconds.
No MLflow import here.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

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


PROBE_TIMEOUT_S = 5.0  # one request
PROBE_WINDOW_S = 10.0  # retries until then: a server restarting (seconds) is waited for


def check_reachable(uri: str, timeout_s: float = PROBE_TIMEOUT_S, window_s: float = PROBE_WINDOW_S) -> None:
    """Raise `StoreUnreachable` unless an http(s) tracking server answers within about `window_s`.

    Any HTTP answer counts (even an error status: something listens); only silence or a refused
    connection fails. Other URIs (files, databases) are not probed.
    """
    if not uri.startswith(("http://", "https://")):
        return
    deadline = time.monotonic() + window_s
    while True:
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError) as exc:
            if time.monotonic() + 1.0 < deadline:
                time.sleep(1.0)
                continue
            reason = getattr(exc, "reason", exc)
            raise StoreUnreachable(
                f"the tracking server {uri} does not answer ({reason}): start it (`make server`), or "
                "point MLFLOW_TRACKING_URI / tracking.uri at one that runs"
            ) from None
