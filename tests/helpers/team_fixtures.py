"""Real servers on loopback for the team-scale tests: PostgreSQL + `mlflow server`, a local Ray cluster.

Each is started on free ports in a fresh folder and stopped at the end, also when the start itself
is interrupted; stopping checks that no process of it is left (found by the folder each one's
processes name on their command line). The folders carry the test run's tag (`reaper.tagged`), so a
run stopped by a signal kills whatever a finalizer could not stop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.tools import server
from tests.helpers.reaper import tagged

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_naming(text: str) -> list[int]:
    """Live processes whose command line contains `text` (a folder only our servers use)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in args and state != "Z" and int(cmdline.parent.name) != os.getpid():
            found.append(int(cmdline.parent.name))
    return found


def public_folder(prefix: str) -> Path:
    """A fresh folder under /tmp that the `postgres` user can traverse (pytest's tmp_path is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix=tagged(prefix), dir="/tmp"))
    folder.chmod(0o755)
    return folder


@dataclass(frozen=True)
class TrackingServer:
    layout: server.Layout
    settings: server.ServerSettings

    @property
    def url(self) -> str:
        return self.settings.url

    def kill_mlflow(self) -> None:
        """Kill -9 the whole `mlflow server` (CLI, uvicorn, workers): a crash, not a shutdown."""
        pid = server.read_pid(self.layout.mlflow_pid)
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        while server.group_members(pid):
            time.sleep(0.1)

    def start_mlflow(self) -> None:
        server.start_mlflow(self.layout, self.settings)


@contextmanager
def tracking_server(auth: bool = False) -> Iterator[TrackingServer]:
    """`python -m pipeline.tools.server start` in a fresh folder; stop at the end, nothing left running."""
    folder = public_folder("dropout-lab-server-")
    env = {**os.environ, "DROPOUT_LAB_SERVER_DIR": str(folder)}
    settings = server.ServerSettings(port=free_port(), pg_port=free_port(), auth=auth)
    argv = ["--port", str(settings.port), "--pg-port", str(settings.pg_port), *(["--auth"] if auth else [])]
    try:  # an interrupted start may have started PostgreSQL already: stop runs whatever happens
        started = subprocess.run(
            [sys.executable, "-m", "pipeline.tools.server", "start", *argv],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        yield TrackingServer(server.Layout(folder), settings)
    finally:
        stopped = subprocess.run(
            [sys.executable, "-m", "pipeline.tools.server", "stop"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        left = processes_naming(str(folder))
        for pid in left:  # never leave a server behind, even when the test fails
            os.kill(pid, signal.SIGKILL)
        subprocess.run(["rm", "-rf", str(folder)], check=False)
    assert stopped.returncode == 0, stopped.stderr
    assert not left, f"processes left after server stop: {left}"


@contextmanager
def ray_cluster(num_cpus: int = 2) -> Iterator[str]:
    """`ray start --head` on loopback, free ports, its own temp folder; yields its address.

    The workers get this checkout first on their path, so they run the code under test.
    """
    temp = public_folder("ray-")
    port = free_port()
    argv = [
        str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
        f"--num-cpus={num_cpus}", "--node-ip-address=127.0.0.1", f"--port={port}",
        f"--ray-client-server-port={free_port()}", f"--dashboard-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}", "--include-dashboard=false",
        f"--temp-dir={temp}", "--disable-usage-stats",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (temp / "ray-start.log").open("wb")
    head = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        while b"Ray runtime started" not in (temp / "ray-start.log").read_bytes():
            assert head.poll() is None, (temp / "ray-start.log").read_text(errors="replace")
            time.sleep(0.5)
        yield address
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` drains, then stops what it started
        try:
            head.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)

        # Ray's workers rename themselves (ray::IDLE), but stay in the head's process group.
        def ours() -> set[int]:
            return {*server.group_members(head.pid), *processes_naming(str(temp))}

        deadline = time.monotonic() + 30
        while ours() and time.monotonic() < deadline:
            time.sleep(0.5)
        left = sorted(ours())
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        log.close()
        subprocess.run(["rm", "-rf", str(temp)], check=False)
    assert not left, f"Ray processes left after shutdown: {left}"
