"""The team server's PostgreSQL cluster: `initdb` once, loopback only, password login. As root, its
tools run as the `postgres` user (PostgreSQL refuses root); the password stays in `pgpass`, off
command lines and logs (libpq reads PGPASSFILE).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import UserError

PG_BIN = Path(os.environ.get("DROPOUT_LAB_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_SYSTEM_USER = "postgres"  # who runs PostgreSQL when we are root
DB_ROLE = "mlflow"  # the database superuser initdb creates; MLflow connects as it
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Cluster:
    """A cluster in the server folder `root`, listening on `port`."""

    root: Path
    port: int

    @property
    def home(self) -> Path:  # owned by the PostgreSQL user: its data folder and log
        return self.root / "postgres"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def log(self) -> Path:
        return self.home / "postgres.log"

    @property
    def pgpass(self) -> Path:
        return self.root / "pgpass"

    def uri(self, database: str) -> str:
        return f"postgresql+psycopg2://{DB_ROLE}@{HOST}:{self.port}/{database}"

    def env(self) -> dict[str, str]:
        """libpq reads the password from PGPASSFILE: it stays off command lines, URIs and logs."""
        return {**os.environ, "PGPASSFILE": str(self.pgpass)}


def _as_pg_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses root: run its tools as the `postgres` system user when we are root."""
    return ["runuser", "-u", PG_SYSTEM_USER, "--", *argv] if os.geteuid() == 0 else argv


def run(argv: list[str], what: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise UserError(f"{what} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done.stdout


def write_private(path: Path, text: str) -> None:
    """A file only its owner can read, written whole (temp file + rename)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def _give_to_pg_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, PG_SYSTEM_USER, PG_SYSTEM_USER)


def init(cluster: Cluster) -> None:
    """`initdb` a new cluster owned by the PostgreSQL user, password login over TCP only."""
    if not (PG_BIN / "initdb").exists():
        raise UserError(
            f"PostgreSQL not found in {PG_BIN} (apt-get install postgresql, or set DROPOUT_LAB_PG_BIN)"
        )
    cluster.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    _give_to_pg_user(cluster.home)
    reach = subprocess.run(_as_pg_user(["test", "-w", str(cluster.home)]), check=False)
    if reach.returncode != 0:
        raise UserError(
            f"the {PG_SYSTEM_USER} user cannot write {cluster.home}: every parent folder of "
            f"{cluster.root} must be traversable by it (chmod o+x)"
        )
    password = secrets.token_urlsafe(24)
    pwfile = cluster.home / "initdb-password"
    write_private(pwfile, password + "\n")
    _give_to_pg_user(pwfile)
    # initdb writes into a temp folder renamed at the end: a failed first start leaves no half cluster.
    staging = cluster.home / "data.initdb"
    subprocess.run(["rm", "-rf", str(staging)], check=True)
    try:
        run(
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
    write_private(cluster.pgpass, f"{HOST}:*:*:{DB_ROLE}:{password}\n")
    staging.rename(cluster.data)


def running(cluster: Cluster) -> bool:
    if not cluster.data.exists():
        return False
    status = subprocess.run(
        _as_pg_user([str(PG_BIN / "pg_ctl"), "status", "-D", str(cluster.data)]),
        capture_output=True, check=False,
    )  # fmt: skip
    return status.returncode == 0


def start(cluster: Cluster) -> None:
    if running(cluster):
        return
    run(
        _as_pg_user([
            str(PG_BIN / "pg_ctl"), "start", "-D", str(cluster.data), "-l", str(cluster.log),
            "-w", "-t", "60", "-o", f"-p {cluster.port}",
        ]),
        f"starting PostgreSQL (log: {cluster.log})",
    )  # fmt: skip


def ensure_database(cluster: Cluster, name: str) -> None:
    psql = [str(PG_BIN / "psql"), "-h", HOST, "-p", str(cluster.port), "-U", DB_ROLE, "-d", "postgres"]
    query = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
    found = run([*psql, "-tAc", query], "looking up the database", env=cluster.env())
    if found.strip() != "1":
        run([*psql, "-c", f'CREATE DATABASE "{name}"'], f"creating database {name}", env=cluster.env())


def stop(cluster: Cluster) -> None:
    if running(cluster):
        run(
            _as_pg_user([str(PG_BIN / "pg_ctl"), "stop", "-D", str(cluster.data), "-m", "fast", "-w"]),
            "stopping PostgreSQL",
        )
