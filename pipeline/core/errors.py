"""User-facing errors and interruptions: a clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.core import interrupts


class UserError(Exception):
    """A mistake the user can fix (bad config, missing data, unreachable mirrors)."""

    exit_code = 2


@contextmanager
def reported_as_exit() -> Iterator[None]:
    """Turn a `UserError` into its message on stderr and a non-zero exit; SIGTERM/SIGHUP/Ctrl-C
    into one line and exit status 143/129/130 (see `pipeline.core.interrupts`)."""
    try:
        with interrupts.reported():
            yield
    except UserError as exc:
        logging.getLogger("pipeline").debug("user error", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
