"""User-facing errors: a mistake the user can fix, said in one line (`pipeline.process.exit` prints it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class UserError(Exception):
    """A mistake the user can fix (bad config, missing data, unreachable mirrors)."""

    exit_code = 2


class ConfigError(UserError):
    """A config value is out of range, of the wrong type, unknown or missing."""

    @classmethod
    def of(cls, errors: Iterable[Mapping[str, Any]]) -> ConfigError:
        """Every failed rule of a validation (pydantic's `errors()`), one line each: key, value, rule."""
        return cls("invalid config:\n" + "\n".join(_line(error) for error in errors))


def _line(error: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f"  {key}: missing (required)"
    if error["type"] == "extra_forbidden":
        return f"  {key}: unknown key (not part of the config)"
    return f"  {key} = {error.get('input')!r}: {error['msg']}"
