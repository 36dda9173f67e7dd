"""A team tracking server on this machine: PostgreSQL as MLflow's store, `mlflow server` in front.

    python -m pipeline.tools.server start [--port 5000] [--pg-port 55432] [--auth] [--workers 2]
    python -m pipeline.tools.server stop | status

Everything lives in `server/` at the project root (or DROPOUT_LAB_SERVER_DIR): the PostgreSQL
cluster (`pipeline.tools.postgres`), the proxied artifacts, pid files, logs; both on 127.0.0.1.
`mlflow server` runs as a process of its own: one worker the first time (its schema creation is not
safe from several), MLflow's job-execution workers off. `--auth` starts MLflow's basic-auth app, the
admin password generated into `server/credentials` and handed over in the environment only.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.core.errors import UserError
from pipeline.core.paths import PROJECT_ROOT
from pipeline.process.exit import reported_as_exit
from pipeline.tools import postgres
from pipeline.tools.postgres import HOST, write_private

TRACKING_DB = "mlflow"
AUTH_DB = "mlflow_auth"
READY_TIMEOUT_S = 180.0


def server_dir() -> Path:
    return Path(os.environ.get("DROPOUT_LAB_SERVER_DIR") or PROJECT_ROOT / "server").resolve()


@dataclass(frozen=True)
class ServerSettings:
    """How the servers were started; saved so `stop` and `status` address the same ones."""

    port: int = 5000
    pg_port: int = 55432
    host: str = HOST
    auth: bool = False
    workers: int = 2

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def cluster(self, layout: Layout) -> postgres.Cluster:
        return postgres.Cluster(layout.root, self.pg_port)


@dataclass(frozen=True)
class Layout:
    """The files of one server folder."""

    root: Path

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def mlflow_pid(self) -> Path:
        return self.root / "mlflow.pid"

    @property
    def mlflow_log(self) -> Path:
        return self.root / "mlflow.log"

    @property
    def settings(self) -> Path:
        return self.root / "settings.json"

    @property
    def schema_ready(self) -> Path:
        return self.root / "schema-ready"

    @property
    def auth_config(self) -> Path:
        return self.root / "basic_auth.ini"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials"

    @property
    def secret_key(self) -> Path:
        return self.root / "flask-secret-key"


# --- mlflow server --------------------------------------------------------------------------------


def admin_credentials(layout: Layout) -> tuple[str, str]:
    """The basic-auth admin: from MLFLOW_TRACKING_USERNAME/PASSWORD, else generated once and kept."""
    if layout.credentials.exists():
        user, password = layout.credentials.read_text().split("\n")[:2]
        return user, password
    user = os.environ.get("MLFLOW_TRACKING_USERNAME") or "admin"
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD") or secrets.token_urlsafe(18)
    write_private(layout.credentials, f"{user}\n{password}\n")
    return user, password


def kept_secret(path: Path) -> str:
    """A random secret generated on first use and kept (owner-only) for later starts."""
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def write_auth_config(layout: Layout, settings: ServerSettings, admin: str) -> None:
    """MLflow's basic-auth config, users kept in PostgreSQL; the password is not in it."""
    write_private(
        layout.auth_config,
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {settings.cluster(layout).uri(AUTH_DB)}\n"
        f"admin_username = {admin}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
    )


def mlflow_command(layout: Layout, settings: ServerSettings, workers: int) -> list[str]:
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", settings.cluster(layout).uri(TRACKING_DB),
        "--serve-artifacts", "--artifacts-destination", str(layout.artifacts),
        "--host", settings.host, "--port", str(settings.port), "--workers", str(workers),
    ]  # fmt: skip
    return [*command, "--app-name", "basic-auth"] if settings.auth else command


def mlflow_env(layout: Layout, settings: ServerSettings) -> dict[str, str]:
    env = {**settings.cluster(layout).env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    for leaked in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(leaked, None)
    if settings.auth:
        admin, password = admin_credentials(layout)
        write_auth_config(layout, settings, admin)
        env |= {
            "MLFLOW_AUTH_CONFIG_PATH": str(layout.auth_config),
            "MLFLOW_AUTH_ADMIN_PASSWORD": password,
            # Signs the UI's CSRF tokens; the same key across restarts keeps open pages valid.
            "MLFLOW_FLASK_SERVER_SECRET_KEY": kept_secret(layout.secret_key),
        }
    return env


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def group_members(pgid: int) -> list[int]:
    """The live processes of a process group (the mlflow CLI, uvicorn and its workers)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_mlflow(layout: Layout, settings: ServerSettings) -> None:
    pid = read_pid(layout.mlflow_pid)
    if pid and group_members(pid):
        if healthy(settings.url):
            return
        raise UserError(f"mlflow server (pid {pid}) runs but {settings.url}/health does not answer")
    first = not layout.schema_ready.exists()
    workers = 1 if first else settings.workers
    layout.artifacts.mkdir(exist_ok=True)
    with layout.mlflow_log.open("ab") as log:
        process = subprocess.Popen(
            mlflow_command(layout, settings, workers), env=mlflow_env(layout, settings), cwd=layout.root,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    layout.mlflow_pid.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not healthy(settings.url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_group(process.pid)
            layout.mlflow_pid.unlink(missing_ok=True)
            tail = "\n".join(layout.mlflow_log.read_text(errors="replace").splitlines()[-15:])
            raise UserError(
                f"mlflow server did not come up on {settings.url} (log {layout.mlflow_log}):\n{tail}"
            )
        time.sleep(0.5)
    if first:
        layout.schema_ready.write_text(
            "MLflow created its schema with one worker; later starts use --workers\n"
        )


def stop_group(pgid: int, grace_s: float = 20.0) -> None:
    """SIGTERM the group, wait, then SIGKILL whatever is left: no process survives."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not group_members(pgid):
            return


def stop_mlflow(layout: Layout) -> None:
    pid = read_pid(layout.mlflow_pid)
    if pid:
        stop_group(pid)
    layout.mlflow_pid.unlink(missing_ok=True)


# --- commands -------------------------------------------------------------------------------------


def load_settings(layout: Layout) -> ServerSettings:
    if layout.settings.exists():
        return ServerSettings(**json.loads(layout.settings.read_text()))
    return ServerSettings()


def start(layout: Layout, settings: ServerSettings) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    cluster = settings.cluster(layout)
    if not cluster.data.exists():
        postgres.init(cluster)
    write_private(layout.settings, json.dumps(asdict(settings), indent=2) + "\n")
    postgres.start(cluster)
    try:
        postgres.ensure_database(cluster, TRACKING_DB)
        if settings.auth:
            postgres.ensure_database(cluster, AUTH_DB)
        start_mlflow(layout, settings)
    except BaseException:
        postgres.stop(cluster)
        raise


def stop(layout: Layout) -> None:
    stop_mlflow(layout)
    postgres.stop(load_settings(layout).cluster(layout))


def status(layout: Layout) -> bool:
    settings = load_settings(layout)
    pid = read_pid(layout.mlflow_pid)
    mlflow_up = bool(pid and group_members(pid)) and healthy(settings.url)
    pg_up = postgres.running(settings.cluster(layout))
    print(f"PostgreSQL on {HOST}:{settings.pg_port}: {'running' if pg_up else 'stopped'}")
    print(f"mlflow server on {settings.url}: {'running' if mlflow_up else 'stopped'}")
    return mlflow_up and pg_up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    defaults = ServerSettings()
    parser.add_argument("--port", type=int, default=defaults.port, help="mlflow server port")
    parser.add_argument("--pg-port", type=int, default=defaults.pg_port, help="PostgreSQL port")
    parser.add_argument("--host", default=defaults.host, help="mlflow server address (loopback by default)")
    parser.add_argument("--auth", action="store_true", help="MLflow basic authentication")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="after the first start")
    args = parser.parse_args(argv)
    layout = Layout(server_dir())
    with reported_as_exit():  # UserError: one line on stderr, exit 2
        if args.command == "start":
            settings = ServerSettings(args.port, args.pg_port, args.host, args.auth, args.workers)
            start(layout, settings)
            print(f"MLflow tracking server on {settings.url} (PostgreSQL on {HOST}:{settings.pg_port})")
            print(f"  export MLFLOW_TRACKING_URI={settings.url}   # or tracking.uri={settings.url}")
            if settings.auth:
                print(f"  basic auth on: user and password in {layout.credentials}")
                print("  (clients: MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)")
            return 0
        if args.command == "stop":
            stop(layout)
            print("tracking server stopped")
            return 0
        return 0 if status(layout) else 3


if __name__ == "__main__":
    sys.exit(main())
