"""How a stage process ends: one line and a status for a user error or a cancel, no teardown after
success.

`reported_as_exit` turns a `UserError` into its message on stderr and exit status 2, and SIGTERM,
SIGHUP or Ctrl-C into one line and 143/129/130 (see `pipeline.process.interrupts`): never a
traceback for something the user can fix or chose.

After `main` returns, Python tears the interpreter down: it clears every module and runs the
destructors of TensorFlow's C++ runtime, seconds of a training process (a fraction of a second
with this exit; `bench/timeline.py` measures it). Nothing of that is output.
`exit_without_teardown` first does what a normal exit does that can matter: it waits for
non-daemon threads, runs the `atexit` handlers (MLflow, Hydra, logging), flushes logging and the
standard streams, then ends the process with the status. Only call it once `main` has returned
normally: errors keep Python's own exit path.
"""

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
    """Stop and join threads as a normal exit would, run `atexit`, flush, then `os._exit(status)`."""
    # What the interpreter's own exit does first: the threading exit hooks (a joblib/loky executor
    # stops its manager thread in one), then a join of every non-daemon thread.
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)
