"""Download: a real HTTP server on 127.0.0.1 with good, missing, corrupt and re-compressed mirrors."""

from __future__ import annotations

import gzip
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from pipeline.core.config import load_settings
from pipeline.core.errors import ConfigError
from pipeline.core.params import compose_config
from pipeline.data.fetch import (
    MIRROR_ENV,
    PRESENT,
    DownloadError,
    decompressed_md5,
    download_all,
    file_location,
    resolve_sources,
)
from tests.helpers.http_server import bytes_handler, serving
from tests.helpers.synthetic import FILES, SyntheticMnist


@dataclass
class Mirrors:
    """One server, one folder per behaviour: /good/, /recompressed/, /corrupt/, /garbage/, else 404."""

    base: str
    content: dict[str, bytes]
    requests: Counter[str] = field(default_factory=Counter)

    def url(self, folder: str) -> str:
        return f"{self.base}/{folder}/"


@pytest.fixture
def mirrors(synthetic_mnist: SyntheticMnist) -> Iterator[Mirrors]:
    content: dict[str, bytes] = {}
    for name in FILES.values():
        good = (synthetic_mnist.folder / name).read_bytes()
        content[f"/good/{name}"] = good
        # Same content, other compression level and header: the .gz bytes differ, the md5 of the content not.
        content[f"/recompressed/{name}"] = gzip.compress(gzip.decompress(good), compresslevel=1, mtime=1)
        content[f"/corrupt/{name}"] = gzip.compress(b"\x00\x00\x08\x01" + bytes(4) + b"not the data")
        content[f"/garbage/{name}"] = b"<html>not a gzip file</html>"
    mirrors = Mirrors("", content)
    with serving(bytes_handler(content, requests=mirrors.requests)) as base:
        mirrors.base = base
        yield mirrors


@pytest.fixture
def refused_url() -> str:
    """A URL on a port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _download(data: SyntheticMnist, sources: list[str], folder: Path, **kwargs: object) -> dict[str, str]:
    return download_all(data.settings.data.files, sources, folder, timeout=5, **kwargs)  # type: ignore[arg-type]


def _assert_verified(data: SyntheticMnist, folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES.values()), "stray or missing files"
    for key, name in FILES.items():
        assert decompressed_md5(folder / name) == data.md5s[key]


def test_falls_back_in_order_past_refused_missing_and_corrupt_sources(
    synthetic_mnist: SyntheticMnist, mirrors: Mirrors, refused_url: str, tmp_path: Path
):
    sources = [refused_url, mirrors.url("missing"), mirrors.url("corrupt"), mirrors.url("good")]
    sources.append(mirrors.url("recompressed"))
    origins = _download(synthetic_mnist, sources, tmp_path / "raw")
    _assert_verified(synthetic_mnist, tmp_path / "raw")
    assert origins == {key: mirrors.url("good") + name for key, name in FILES.items()}
    for name in FILES.values():
        for folder in ("missing", "corrupt", "good"):
            assert mirrors.requests[f"/{folder}/{name}"] == 1
        assert mirrors.requests[f"/recompressed/{name}"] == 0, "tried past the first good source"


def test_a_recompressed_mirror_passes(synthetic_mnist: SyntheticMnist, mirrors: Mirrors, tmp_path: Path):
    _download(synthetic_mnist, [mirrors.url("recompressed")], tmp_path / "raw")
    _assert_verified(synthetic_mnist, tmp_path / "raw")
    name = FILES["train_images"]
    assert (tmp_path / "raw" / name).read_bytes() != (synthetic_mnist.folder / name).read_bytes()


@pytest.mark.parametrize(("folder", "reason"), [("corrupt", "checksum mismatch"), ("garbage", "not a gzip")])
def test_a_wrong_file_is_rejected(
    synthetic_mnist: SyntheticMnist, mirrors: Mirrors, tmp_path: Path, folder: str, reason: str
):
    with pytest.raises(DownloadError, match=reason):
        _download(synthetic_mnist, [mirrors.url(folder)], tmp_path / "raw")
    assert list((tmp_path / "raw").iterdir()) == [], "a rejected file was left behind"


def test_a_valid_existing_file_is_not_fetched_again(
    synthetic_mnist: SyntheticMnist, mirrors: Mirrors, tmp_path: Path
):
    _download(synthetic_mnist, [mirrors.url("good")], tmp_path / "raw")
    before = sum(mirrors.requests.values())
    origins = _download(synthetic_mnist, [mirrors.url("good")], tmp_path / "raw")
    assert sum(mirrors.requests.values()) == before
    assert set(origins.values()) == {PRESENT}


def test_a_corrupt_existing_file_is_replaced(
    synthetic_mnist: SyntheticMnist, mirrors: Mirrors, tmp_path: Path
):
    raw = tmp_path / "raw"
    _download(synthetic_mnist, [mirrors.url("good")], raw)
    name = FILES["test_labels"]
    (raw / name).write_bytes((raw / name).read_bytes()[:-8])  # truncated
    origins = _download(synthetic_mnist, [mirrors.url("good")], raw)
    assert origins["test_labels"] == mirrors.url("good") + name
    assert mirrors.requests[f"/good/{name}"] == 2
    _assert_verified(synthetic_mnist, raw)


def test_when_every_source_fails_the_error_lists_each_with_its_reason(
    synthetic_mnist: SyntheticMnist, mirrors: Mirrors, refused_url: str, tmp_path: Path
):
    empty = tmp_path / "empty"
    empty.mkdir()
    sources = [refused_url, mirrors.url("missing"), mirrors.url("corrupt"), str(empty)]
    with pytest.raises(DownloadError) as caught:
        _download(synthetic_mnist, sources, tmp_path / "raw")
    message = str(caught.value)
    name = FILES["train_images"]
    assert f"could not get a verified {name} (data.files.train_images" in message
    assert f"1. {refused_url}{name}: connection refused" in message
    assert f"2. {mirrors.url('missing')}{name}: HTTP 404" in message
    assert f"3. {mirrors.url('corrupt')}{name}: checksum mismatch" in message
    assert f"4. {empty / name}: not found" in message
    assert f"{MIRROR_ENV}=/path/to/folder" in message and "data.mirrors=[" in message
    assert list((tmp_path / "raw").iterdir()) == [], "partial or temp files left behind"


def test_a_silent_server_times_out(synthetic_mnist: SyntheticMnist, tmp_path: Path):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections in the backlog, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(DownloadError, match=r"no answer within 0.2 s"):
            download_all(synthetic_mnist.settings.data.files, [url], tmp_path / "raw", timeout=0.2)


@pytest.mark.parametrize("as_url", [False, True], ids=["folder", "file-url"])
def test_local_folder_and_file_url_sources(synthetic_mnist: SyntheticMnist, tmp_path: Path, as_url: bool):
    source = synthetic_mnist.folder.as_uri() if as_url else str(synthetic_mnist.folder)
    origins = _download(synthetic_mnist, [source], tmp_path / "raw")
    _assert_verified(synthetic_mnist, tmp_path / "raw")
    assert origins["train_images"] == str(synthetic_mnist.folder / FILES["train_images"])


def test_progress_bar_goes_to_stderr(
    synthetic_mnist: SyntheticMnist, mirrors: Mirrors, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    _download(synthetic_mnist, [mirrors.url("good")], tmp_path / "raw", progress=True)
    assert FILES["train_images"] in capsys.readouterr().err


def test_the_environment_source_comes_first_and_duplicates_go():
    assert resolve_sources(["a/", "b/"], None) == ["a/", "b/"]
    assert resolve_sources(["a/", "b/"], "") == ["a/", "b/"]
    assert resolve_sources(["a/", "b/"], "/env") == ["/env", "a/", "b/"]
    assert resolve_sources(["a/", "/env"], "/env") == ["/env", "a/"]


def test_no_source_or_an_unknown_scheme_is_a_config_error():
    with pytest.raises(ConfigError, match=f"data.mirrors is empty and {MIRROR_ENV} is not set"):
        resolve_sources([], None)
    with pytest.raises(ConfigError, match="'ftp'"):
        resolve_sources(["ftp://example.org/mnist/"], None)


@pytest.mark.parametrize(
    ("source", "location"),
    [
        ("https://host/mnist", "https://host/mnist/f.gz"),
        ("https://host/mnist/", "https://host/mnist/f.gz"),
        ("file:///data/mnist", "/data/mnist/f.gz"),
        ("/data/mnist/", "/data/mnist/f.gz"),
    ],
)
def test_file_location(source: str, location: str):
    assert file_location(source, "f.gz") == location


def test_fashion_mnist_composes_like_mnist():
    mnist = load_settings(yaml.safe_load(compose_config())).data
    fashion = load_settings(yaml.safe_load(compose_config(["data=fashion_mnist"]))).data
    assert fashion.name == "fashion_mnist"
    assert [item.file for _, item in fashion.files] == [item.file for _, item in mnist.files]
    assert {item.md5 for _, item in fashion.files}.isdisjoint({item.md5 for _, item in mnist.files})
    assert (fashion.val_fraction, fashion.train_size, fashion.seed) == (0.2, None, 0)
