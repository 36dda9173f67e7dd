"""How a stage process ends: one line and a status for a user error or a cancel (never a traceback
for what the user can fix or chose), and no interpreter teardown after success: clearing every
module and TensorFlow's C++ runtime takes seconds and outputs nothing (`bench/timeline.py`)."""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from pipeline.core.errors import UserError
from pipeline.process import interrupts


@contextmanager
def reported_as_exit() -> Iterator[None]:
    """Turn a `UserError` into its message on stderr and a non-zero exit; SIGTERM/SIGHUP/Ctrl-C
    into one line and exit status 143/129/130."""
    try:
        with interrupts.reported():
            yield
    except UserError as exc:
        logging.getLogger("pipeline").debug("user error", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None


@contextmanager
def exit_on_error(what: str) -> Iterator[None]:
    """Any error in the block ends the process with one line (a `UserError` its own message and
    status 2, anything else `what` failed and status 1): for Hydra callbacks, whose exceptions Hydra
    would only turn into a warning and carry on."""
    try:
        yield
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except Exception as exc:
        logging.getLogger("pipeline").debug("%s failed", what, exc_info=True)
        print(f"error: {what} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def exit_without_teardown(status: int = 0) -> NoReturn:
    """What a normal exit does that can matter (join threads, run `atexit`: MLflow, Hydra, logging;
    flush), then `os._exit(status)`. Only once `main` has returned: errors keep Python's own exit."""
    # What the interpreter's own exit does first: the threading exit hooks (a joblib/loky executor
    # stops its manager thread in one), then a join of every non-daemon thread.
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)
