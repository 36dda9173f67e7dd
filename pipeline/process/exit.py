"""Leave a finished stage process at once, instead of waiting for TensorFlow's teardown.

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
from typing import NoReturn


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
