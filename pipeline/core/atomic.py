"""Write files so a reader never sees half of one: write a temp file beside it, then rename.

A write that fails (disk full, a file-size limit, a read-only folder) leaves the previous file as
it was and raises `WriteError`, which names the file and says what to do.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.core.errors import UserError


class WriteError(UserError):
    """A file could not be written; the previous version of it, if any, is unchanged."""

    @classmethod
    def of(cls, target: Path, exc: OSError) -> WriteError:
        why = exc.strerror or str(exc)
        return cls(
            f"could not write {target} ({why}); the previous {target.name}, if any, is unchanged. "
            "Free disk space, raise the file-size limit (ulimit -f) or make the folder writable, "
            "then run again"
        )


@contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temp path in the target's folder; on success rename it onto the target.

    The temp name keeps the target's suffix, since writers such as Keras insist on `.keras`.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=target.suffix or ".tmp", dir=target.parent
        )
    except OSError as exc:
        raise WriteError.of(target, exc) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes 0600; a written file gets the usual mode
        os.replace(tmp, target)
    except OSError as exc:
        raise WriteError.of(target, exc) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(target: Path | str, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(target: Path | str, data: Any) -> None:
    write_text_atomic(target, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_with(target: Path | str, writer: Callable[[Path], object]) -> None:
    """Let `writer` fill a temp path (e.g. `np.savez`, `fig.savefig`), then rename it onto `target`."""
    with atomic_path(target) as tmp:
        writer(tmp)


def check_writable(folder: Path | str) -> None:
    """Raise `WriteError` unless a file can be created in `folder`: said before any work starts,
    rather than after a training whose results could not be kept."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise WriteError(
            f"the project folder {folder} is not writable ({exc.strerror or exc}): run from a copy you "
            "can write to, or point DROPOUT_LAB_ROOT at one"
        ) from None
