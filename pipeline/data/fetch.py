"""Fetch the four IDX `.gz` files of `data.name` into `data/raw/<name>/`: (the `download` stage).

Sources (`data.mirrors`, with `DROPOUT_LAB_DATA_MIRROR` in front) are http(s):// or file:// URLs or
local folders, tried in order. A file counts only when the md5 of its DECOMPRESSED content is the
published one, so a re-compressed mirror passes and a wrong or truncated file never does. Files are
written to a temp name and renamed once verified, so no half file is ever left behind.
No NumPy or TensorFlow import (urllib does the fetching): this stage must start fast.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import socket
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, url2pathname, urlopen

from tqdm import tqdm

from pipeline.core.atomic import atomic_path
from pipeline.core.config import DataConfig, DataFile, DataFiles
from pipeline.core.errors import ConfigError, UserError

log = logging.getLogger(__name__)

# A mirror (folder or URL) tried before `data.mirrors`: an offline copy of the files, say.
MIRROR_ENV = "DROPOUT_LAB_DATA_MIRROR"
TIMEOUT_SECONDS = 30.0
PRESENT = "present"  # what `download_all` reports for a file that was already there and valid
_CHUNK = 1 << 20
_URL_SCHEMES = ("http", "https")
_USER_AGENT = "dropout-lab (python urllib)"
GZIP_MAGIC = b"\x1f\x8b"


class DownloadError(UserError):
    """No source gave a verified copy of a file."""


class SourceFailure(Exception):
    """One source could not give one file; the reason goes into the `DownloadError` listing."""


def resolve_sources(mirrors: Sequence[str], env_mirror: str | None) -> list[str]:
    """The sources in the order they are tried: the environment's first, duplicates dropped."""
    sources = list(dict.fromkeys([env_mirror, *mirrors] if env_mirror else mirrors))
    if not sources:
        raise ConfigError(f"data.mirrors is empty and {MIRROR_ENV} is not set: nothing to fetch from")
    for source in sources:
        scheme = urlsplit(source).scheme
        if scheme not in (*_URL_SCHEMES, "file", ""):
            raise ConfigError(
                f"source {source!r} (data.mirrors or {MIRROR_ENV}) has scheme {scheme!r}; "
                "use http(s)://, file:// or a local folder"
            )
    return sources


def file_location(source: str, filename: str) -> str:
    """Where `filename` is in `source`: a URL for http(s) mirrors, a local path otherwise."""
    parts = urlsplit(source)
    if parts.scheme in _URL_SCHEMES:
        return source.rstrip("/") + "/" + filename
    folder = url2pathname(parts.path) if parts.scheme == "file" else source
    return str(Path(folder).expanduser() / filename)


def download_dataset(cfg: DataConfig, folder: Path, *, progress: bool = False) -> dict[str, str]:
    """`data.files` into `folder` from `data.mirrors`, the DROPOUT_LAB_DATA_MIRROR one first."""
    sources = resolve_sources(cfg.mirrors, os.environ.get(MIRROR_ENV))
    return download_all(cfg.files, sources, folder, progress=progress)


def download_all(
    files: DataFiles,
    sources: Sequence[str],
    folder: Path,
    *,
    progress: bool = False,
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, str]:
    """Give `folder` a verified copy of every file; return where each came from (`PRESENT` if kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    origins = {}
    for key, item in files:
        origins[key] = ensure_file(key, item, folder / item.file, sources, progress=progress, timeout=timeout)
    return origins


def ensure_file(
    key: str, item: DataFile, target: Path, sources: Sequence[str], *, progress: bool, timeout: float
) -> str:
    """Keep `target` if it is valid; otherwise drop it and fetch it from the first source that works."""
    if target.exists():
        try:
            verify(target, item.md5)
        except SourceFailure as exc:
            log.warning("%s does not verify (%s): fetching it again", target, exc)
            target.unlink()
        else:
            log.info("%s: already present and verified", target)
            return PRESENT
    return fetch_first(key, item, target, sources, progress=progress, timeout=timeout)


def fetch_first(
    key: str, item: DataFile, target: Path, sources: Sequence[str], *, progress: bool, timeout: float
) -> str:
    """Try each source into a temp file; rename the first verified one onto `target`."""
    failures: list[tuple[str, str]] = []
    with atomic_path(target) as tmp:
        for source in sources:
            location = file_location(source, item.file)
            try:
                copy_to(location, tmp, timeout=timeout, progress=progress)
                verify(tmp, item.md5)
            except SourceFailure as exc:
                log.warning("%s: %s", location, exc)
                failures.append((location, str(exc)))
            else:
                log.info("%s: fetched and verified from %s", target, location)
                return location
        raise DownloadError(_all_failed(key, item, failures))


def copy_to(location: str, dest: Path, *, timeout: float, progress: bool) -> None:
    """Copy one file from a URL or local path to `dest`, with a progress bar when asked."""
    try:
        stream, total = _open(location, timeout)
        with stream, dest.open("wb") as out:
            bar = tqdm(total=total, unit="B", unit_scale=True, desc=Path(location).name, disable=not progress)
            with bar:
                while chunk := stream.read(_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as exc:
        raise SourceFailure(_reason(exc, timeout)) from None


def _open(location: str, timeout: float) -> tuple[BinaryIO, int | None]:
    if urlsplit(location).scheme in _URL_SCHEMES:
        response = urlopen(Request(location, headers={"User-Agent": _USER_AGENT}), timeout=timeout)
        return response, response.length
    stream = open(location, "rb")  # noqa: SIM115 (the caller closes it)
    return stream, os.fstat(stream.fileno()).st_size


def _reason(exc: BaseException, timeout: float) -> str:
    """A short, human reason for a failed fetch (the part after the source in the error listing)."""
    if isinstance(exc, HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"host not found, no network? ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, FileNotFoundError):
        return "not found"
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed before the end of the file"
    return str(exc) or type(exc).__name__


def verify(path: Path, md5: str) -> None:
    """Raise `SourceFailure` unless `path` is a whole gzip file whose content has this md5."""
    actual = decompressed_md5(path)
    if actual != md5:
        raise SourceFailure(f"checksum mismatch (md5 of the decompressed content {actual}, expected {md5})")


def decompressed_md5(path: Path) -> str:
    """md5 of a gzip file's content, streamed; a file that is not a whole gzip stream fails."""
    with path.open("rb") as raw:
        if raw.read(2) != GZIP_MAGIC:
            raise SourceFailure("not a gzip file")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with gzip.open(path, "rb") as content:
            while chunk := content.read(_CHUNK):
                digest.update(chunk)
    except (EOFError, OSError, zlib.error) as exc:
        raise SourceFailure(f"broken gzip stream ({exc})") from None
    return digest.hexdigest()


def _all_failed(key: str, item: DataFile, failures: list[tuple[str, str]]) -> str:
    tried = "\n".join(f"  {n}. {location}: {reason}" for n, (location, reason) in enumerate(failures, 1))
    return (
        f"could not get a verified {item.file} (data.files.{key}, md5 of content {item.md5}) "
        f"from any of {len(failures)} source(s):\n{tried}\n"
        "To use a copy you have, point at the folder (or URL) that holds the four .gz files:\n"
        f"  {MIRROR_ENV}=/path/to/folder python -m pipeline.download\n"
        "or list it among the sources: python -m pipeline.download 'data.mirrors=[/path/to/folder]'"
    )
