"""SIGTERM and SIGHUP end a run like Ctrl-C: cleanup runs, the run ends KILLED, the exit says why.

Python's default SIGTERM/SIGHUP handling exits at once, skipping `finally` blocks and `atexit`, and
DVC, joblib, Ray, SLURM and Kubernetes cancel jobs with SIGTERM (a closed terminal sends SIGHUP).
Here both raise `Interrupted`, a `KeyboardInterrupt` that remembers its signal, so every context
manager that handles Ctrl-C handles them too, and the exit status is 128 + the signal's number.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []  # the signals this process was interrupted by, for exit-time cleanup
_held: list[int] = []  # a signal that arrived inside `deferred()`, raised when the block ends
_depth = 0  # how many `deferred()` blocks are open


class Interrupted(KeyboardInterrupt):
    """A cancel signal turned into an exception; `summary` may be set on the way up (run, epoch)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    if signum != signal.SIGINT:
        # One exception is enough: a second SIGTERM during cleanup (ending the MLflow run) is
        # ignored, so the cleanup finishes. A second Ctrl-C still interrupts; SIGKILL always stops.
        for sig in HANDLED:
            signal.signal(sig, signal.SIG_IGN)
    if _depth:
        _held.append(signum)
        return
    raise Interrupted(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a cancel signal until the block ends, then raise it.

    For a training's end-of-epoch records (checkpoint, MLflow metrics, heartbeat): an exception
    raised in the middle of a database write leaves SQLAlchemy's session half-updated, which then
    prints tracebacks while the run is being ended KILLED. A block takes milliseconds.
    """
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    if not _depth and _held:
        raise Interrupted(_held.pop())


def install() -> None:
    """Raise `Interrupted` on SIGTERM/SIGHUP/SIGINT from now on (main thread only: Python's rule)."""
    if threading.current_thread() is threading.main_thread():
        for sig in (*HANDLED, signal.SIGINT):
            signal.signal(sig, _raise)


def received() -> str | None:
    """The name of the first signal that interrupted this process, if one did."""
    return signal.Signals(_received[0]).name if _received else None


def signal_name(exc: BaseException) -> str:
    return signal.Signals(exc.signum).name if isinstance(exc, Interrupted) else "SIGINT"


def exit_status(exc: KeyboardInterrupt) -> int:
    """130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP: what a shell reports for a killed job."""
    return 128 + (exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT))


def summarize(exc: KeyboardInterrupt, text: str) -> None:
    """Attach the one line to print for this interruption (the innermost caller that knows wins)."""
    if not getattr(exc, "summary", None):
        exc.summary = text  # type: ignore[attr-defined]


@contextmanager
def reported() -> Iterator[None]:
    """Install the handlers; turn an interruption into one line on stderr and its exit status."""
    install()
    try:
        yield
    except KeyboardInterrupt as exc:
        line = getattr(exc, "summary", None) or f"interrupted by {signal_name(exc)}"
        print(line, file=sys.stderr, flush=True)
        raise SystemExit(exit_status(exc)) from None
