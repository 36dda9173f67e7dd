"""User-facing errors: a mistake the user can fix, said in one line (`pipeline.process.exit` prints it)."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (bad config, missing data, unreachable mirrors)."""

    exit_code = 2
