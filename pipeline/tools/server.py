"""A team tracking server on this machine: PostgreSQL as MLflow's store, `mlflow server` in front.

    python -m pipeline.tools.server start [--port 5000] [--pg-port 55432] [--auth] [--workers 2]
    python -m pipeline.tools.server stop | status

Everything lives in one git- and DVC-ignored folder, `server/` at the project root (or
`DROPOUT_LAB_SERVER_DIR`): the PostgreSQL cluster (`initdb` on first start), the proxied artifacts,
pid files and logs. PostgreSQL refuses to run as root, so when we are root its `initdb` and server run
as the unprivileged `postgres` system user (`runuser -u postgres -- ...`) on a data folder that user
owns; otherwise they run as the current user. Both servers listen on 127.0.0.1 only, PostgreSQL with
password authentication (a generated password, kept in `server/pgpass`, handed to libpq through
PGPASSFILE so it never appears on a command line or in a log).

`mlflow server` is launched as a process of its own (this module never imports MLflow): one worker the
first time (MLflow creates its schema on first use, which is not safe from several workers at once),
`--workers` later, and MLflow's job-execution workers off (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false;
nothing here uses them, and each costs some 250 MB). `--auth` starts MLflow's basic-auth app: the admin
password is generated into `server/credentials` (or taken from MLFLOW_TRACKING_PASSWORD) and handed to
MLflow through MLFLOW_AUTH_ADMIN_PASSWORD, never written into its config.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
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

PG_BIN = Path(os.environ.get("DROPOUT_LAB_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_SYSTEM_USER = "postgres"  # who runs PostgreSQL when we are root
DB_ROLE = "mlflow"  # the database superuser initdb creates; MLflow connects as it
TRACKING_DB = "mlflow"
AUTH_DB = "mlflow_auth"
HOST = "127.0.0.1"
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


@dataclass(frozen=True)
class Layout:
    """The files of one server folder."""

    root: Path

    @property
    def pg_home(self) -> Path:  # owned by the PostgreSQL user: its data folder and log
        return self.root / "postgres"

    @property
    def pg_data(self) -> Path:
        return self.pg_home / "data"

    @property
    def pg_log(self) -> Path:
        return self.pg_home / "postgres.log"

    @property
    def pgpass(self) -> Path:
        return self.root / "pgpass"

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


# --- PostgreSQL ----------------------------------------------------------------------------------


def _as_pg_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses root: run its tools as the `postgres` system user when we are root."""
    return ["runuser", "-u", PG_SYSTEM_USER, "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise UserError(f"{what} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done.stdout


def _write_private(path: Path, text: str) -> None:
    """A file only its owner can read, written whole (temp file + rename)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def _give_to_pg_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, PG_SYSTEM_USER, PG_SYSTEM_USER)


def init_cluster(layout: Layout) -> None:
    """`initdb` a new cluster owned by the PostgreSQL user, password login over TCP only."""
    if not (PG_BIN / "initdb").exists():
        raise UserError(
            f"PostgreSQL not found in {PG_BIN} (apt-get install postgresql, or set DROPOUT_LAB_PG_BIN)"
        )
    layout.pg_home.mkdir(mode=0o700, parents=True, exist_ok=True)
    _give_to_pg_user(layout.pg_home)
    reach = subprocess.run(_as_pg_user(["test", "-w", str(layout.pg_home)]), check=False)
    if reach.returncode != 0:
        raise UserError(
            f"the {PG_SYSTEM_USER} user cannot write {layout.pg_home}: every parent folder of "
            f"{layout.root} must be traversable by it (chmod o+x)"
        )
    password = secrets.token_urlsafe(24)
    pwfile = layout.pg_home / "initdb-password"
    _write_private(pwfile, password + "\n")
    _give_to_pg_user(pwfile)
    # initdb writes into a temp folder renamed at the end: a failed first start leaves no half cluster.
    staging = layout.pg_home / "data.initdb"
    subprocess.run(["rm", "-rf", str(staging)], check=True)
    try:
        _run(
            _as_pg_user([
                str(PG_BIN / "initdb"), "-D", str(staging), "-U", DB_ROLE, f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--encoding=UTF8",
                "--locale=C", "--no-instructions",
            ]),
            "initdb",
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)
    # Loopback only, no Unix socket (its path would have to be writable and short).
    with (staging / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# dropout-lab: loopback only\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
        )
    _write_private(layout.pgpass, f"{HOST}:*:*:{DB_ROLE}:{password}\n")
    staging.rename(layout.pg_data)


def pg_env(layout: Layout) -> dict[str, str]:
    """libpq reads the password from PGPASSFILE: it stays off command lines, URIs and logs."""
    return {**os.environ, "PGPASSFILE": str(layout.pgpass)}


def pg_running(layout: Layout) -> bool:
    if not layout.pg_data.exists():
        return False
    status = subprocess.run(
        _as_pg_user([str(PG_BIN / "pg_ctl"), "status", "-D", str(layout.pg_data)]),
        capture_output=True, check=False,
    )  # fmt: skip
    return status.returncode == 0


def start_postgres(layout: Layout, settings: ServerSettings) -> None:
    if pg_running(layout):
        return
    _run(
        _as_pg_user([
            str(PG_BIN / "pg_ctl"), "start", "-D", str(layout.pg_data), "-l", str(layout.pg_log),
            "-w", "-t", "60", "-o", f"-p {settings.pg_port}",
        ]),
        f"starting PostgreSQL (log: {layout.pg_log})",
    )  # fmt: skip


def ensure_database(layout: Layout, settings: ServerSettings, name: str) -> None:
    psql = [str(PG_BIN / "psql"), "-h", HOST, "-p", str(settings.pg_port), "-U", DB_ROLE, "-d", "postgres"]
    query = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
    found = _run([*psql, "-tAc", query], "looking up the database", env=pg_env(layout))
    if found.strip() != "1":
        _run([*psql, "-c", f'CREATE DATABASE "{name}"'], f"creating database {name}", env=pg_env(layout))


def stop_postgres(layout: Layout) -> None:
    if pg_running(layout):
        _run(
            _as_pg_user([str(PG_BIN / "pg_ctl"), "stop", "-D", str(layout.pg_data), "-m", "fast", "-w"]),
            "stopping PostgreSQL",
        )


def database_uri(settings: ServerSettings, name: str) -> str:
    return f"postgresql+psycopg2://{DB_ROLE}@{HOST}:{settings.pg_port}/{name}"


# --- mlflow server --------------------------------------------------------------------------------


def admin_credentials(layout: Layout) -> tuple[str, str]:
    """The basic-auth admin: from MLFLOW_TRACKING_USERNAME/PASSWORD, else generated once and kept."""
    if layout.credentials.exists():
        user, password = layout.credentials.read_text().split("\n")[:2]
        return user, password
    user = os.environ.get("MLFLOW_TRACKING_USERNAME") or "admin"
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD") or secrets.token_urlsafe(18)
    _write_private(layout.credentials, f"{user}\n{password}\n")
    return user, password


def kept_secret(path: Path) -> str:
    """A random secret generated on first use and kept (owner-only) for later starts."""
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def write_auth_config(layout: Layout, settings: ServerSettings, admin: str) -> None:
    """MLflow's basic-auth config, users kept in PostgreSQL; the password is not in it."""
    _write_private(
        layout.auth_config,
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {database_uri(settings, AUTH_DB)}\n"
        f"admin_username = {admin}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
    )


def mlflow_command(layout: Layout, settings: ServerSettings, workers: int) -> list[str]:
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", database_uri(settings, TRACKING_DB),
        "--serve-artifacts", "--artifacts-destination", str(layout.artifacts),
        "--host", settings.host, "--port", str(settings.port), "--workers", str(workers),
    ]  # fmt: skip
    return [*command, "--app-name", "basic-auth"] if settings.auth else command


def mlflow_env(layout: Layout, settings: ServerSettings) -> dict[str, str]:
    env = {**pg_env(layout), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
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
    if not layout.pg_data.exists():
        init_cluster(layout)
    _write_private(layout.settings, json.dumps(asdict(settings), indent=2) + "\n")
    start_postgres(layout, settings)
    try:
        ensure_database(layout, settings, TRACKING_DB)
        if settings.auth:
            ensure_database(layout, settings, AUTH_DB)
        start_mlflow(layout, settings)
    except BaseException:
        stop_postgres(layout)
        raise


def stop(layout: Layout) -> None:
    stop_mlflow(layout)
    stop_postgres(layout)


def status(layout: Layout) -> bool:
    settings = load_settings(layout)
    pid = read_pid(layout.mlflow_pid)
    mlflow_up = bool(pid and group_members(pid)) and healthy(settings.url)
    pg_up = pg_running(layout)
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
