"""Nothing a test run starts outlives it, even when the run is stopped by SIGTERM or Ctrl-C.

Two layers:

- Python's default SIGTERM (and SIGHUP) handler exits at once, without `finally` blocks, fixture
  finalizers or atexit: `install_signal_handlers` makes them raise KeyboardInterrupt, as Ctrl-C does,
  so pytest tears its fixtures down (the servers' own stop commands run). Under pytest-xdist the
  controller first passes SIGTERM on to its workers, where the tests and their fixtures run.
- `reap` is the backstop for what no finalizer stopped (a worker killed during its teardown, a
  subprocess' children, `dvc queue` workers): it kills every process that names one of this run's
  markers on its command line or works in a folder under one, with its process group when it leads
  one, then removes the run's folders under /tmp. It runs at the end of every test session
  (pytest_unconfigure) and at interpreter exit.

The markers: this session's pytest base temp folder (every tmp_path is under it), and a run tag in the
names of the folders the servers live in (they must be under /tmp: pytest's tmp folders are 0700, which
the `postgres` user cannot traverse). The controller sets the run tag; each xdist worker adds its name.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterable
from pathlib import Path

RUN_ENV = "DROPOUT_LAB_TEST_RUN"
_markers: set[str] = set()
_state = {"signalled": False, "forward_to_children": False}


def start_run() -> None:
    """In the process that runs pytest (not in an xdist worker): a tag that names this run."""
    os.environ[RUN_ENV] = f"dlt{os.getpid()}"


def run_marker() -> str:
    """`dlt<controller pid>.`: in the name of every folder this run's servers use."""
    return f"{os.environ[RUN_ENV]}."


def run_tag() -> str:
    """`dlt<controller pid>.<worker>-` in a test run ('' outside one, e.g. in the benchmarks)."""
    run = os.environ.get(RUN_ENV)
    return f"{run}.{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-" if run else ""


def tagged(prefix: str) -> str:
    """A temp-folder prefix that carries this process's run tag, so `reap` finds what runs in it."""
    return f"{prefix}{run_tag()}"


def add_marker(text: str) -> None:
    _markers.add(text)


def _on_signal(signum: int, frame: object) -> None:
    if _state["signalled"]:  # a second signal must not interrupt the teardown the first one started
        return
    _state["signalled"] = True
    if _state["forward_to_children"]:
        for pid in _children(os.getpid()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def install_signal_handlers(*, xdist_controller: bool) -> None:
    """SIGTERM and SIGHUP end the session as Ctrl-C does: fixtures torn down, atexit run."""
    _state["forward_to_children"] = xdist_controller
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    atexit.register(reap)


def _proc_entries() -> Iterable[tuple[int, int, int, str, str]]:
    """(pid, ppid, pgid, command line, cwd) of every live, non-zombie process we can read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                cwd = ""
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            yield int(entry.name), int(fields[1]), int(fields[2]), cmdline, cwd


def _children(pid: int) -> list[int]:
    return [p for p, ppid, _, _, _ in _proc_entries() if ppid == pid]


def _ancestors() -> set[int]:
    parents = {p: ppid for p, ppid, _, _, _ in _proc_entries()}
    found, pid = set(), os.getpid()
    while pid > 1:
        found.add(pid)
        pid = parents.get(pid, 0)
    return found


def _ours(markers: set[str]) -> set[int]:
    """Processes naming a marker, and the members of the process groups they lead."""
    if not markers:
        return set()
    spared = _ancestors()
    entries = list(_proc_entries())
    leaders = set()
    found = set()
    for pid, _, pgid, cmdline, cwd in entries:
        if pid in spared:
            continue
        if any(m in cmdline or m in cwd + "/" for m in markers):
            found.add(pid)
            if pgid == pid:
                leaders.add(pid)
    own_group = os.getpgid(0)
    found |= {p for p, _, pgid, _, _ in entries if pgid in leaders and pgid != own_group and p not in spared}
    return found


def reap(markers: Iterable[str] | None = None, grace_s: float = 3.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process of this run still alive; remove its /tmp folders.

    Returns the pids it had to stop (empty when the fixtures cleaned up after themselves)."""
    wanted = set(markers) if markers is not None else set(_markers)
    # A process dies in a few seconds of SIGTERM; a new one may appear (a child of a dying one).
    stopped: set[int] = set()
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0), (signal.SIGKILL, 5.0)):
        left = _ours(wanted)
        if not left:
            break
        stopped |= left
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while _ours(wanted) and time.monotonic() < deadline:
            time.sleep(0.1)
    for marker in wanted:
        if marker.startswith("dlt"):  # the run's server and browser folders under /tmp
            for folder in Path("/tmp").glob(f"*{marker}*"):
                shutil.rmtree(folder, ignore_errors=True)
    return sorted(stopped)
