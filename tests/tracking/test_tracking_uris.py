"""Every tracking URI a user may write either works or ends `python -m pipeline.train` with one clear
line and a non-zero exit, before any training: a web server that is not MLflow, a database whose
driver is missing or that takes no connection, a folder that cannot be written, a folder store.
Real processes and real servers on 127.0.0.1; the team server's cases (a refused password, a
`postgresql://` URI that works) are in tests/test_tracking_uris_team.py."""

from __future__ import annotations

import http.server
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.tracking.uri import default_tracking_uri, run_page, with_installed_driver
from tests.helpers.http_server import bytes_handler, serving
from tests.helpers.process_runs import one_error_line, preprocessed_project, read_only_for_child, run_stage

TINY = ["model.hidden_units=[8]", "train.epochs=1", "tracking.log_model=false", "eval.mc_samples=0"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A project with preprocessed synthetic data: its root and the data overrides."""
    return preprocessed_project(tmp_path_factory.mktemp("uris"))


def _train(project: tuple[Path, list[str]], uri: str) -> tuple[int, str]:
    """Train with `uri` as the store (MLFLOW_TRACKING_URI); the exit code and what stderr said."""
    root, data = project
    done = run_stage("train", root, uri, *data, *TINY)
    assert not list(root.glob("outputs/**/model.keras")), "a training ran with an unusable store"
    return done.returncode, done.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=["files", "health-only"])
def web_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that is not MLflow: a file server (404 on /health), or one
    that answers /health with OK but has no MLflow version."""

    def files(*args: object, **kwargs: object) -> _Quiet:
        return _Quiet(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

    # The health-only one: /health says OK, as many web servers' do, with no MLflow behind it.
    health_only = bytes_handler({"/health": b"OK"}, default=b"<html>a web page</html>")
    with serving(files if request.param == "files" else health_only) as url:
        yield url


def test_a_web_server_that_is_not_mlflow_is_named(project, web_server: str):
    code, stderr = _train(project, web_server)
    assert code == 2
    line = one_error_line(stderr)
    assert f"the tracking URI {web_server} answers HTTP, but not as an MLflow server" in line


def test_mysql_without_a_driver_names_the_package_to_install(project):
    code, stderr = _train(project, f"mysql://dropout:secret@127.0.0.1:{_free_port()}/mlflow")
    assert code == 2
    line = one_error_line(stderr)
    assert "needs the database driver MySQLdb, which is not installed: install mysqlclient" in line
    assert "mysql+pymysql://" in line and "secret" not in line  # the password is never shown


def test_postgresql_names_the_installed_driver():
    """SQLAlchemy 2.1 reads postgresql:// as psycopg 3, which is not installed here; psycopg2 is
    (the server extra). A URI naming its driver is left alone."""
    assert (
        with_installed_driver("postgresql://u@127.0.0.1:5432/db")
        == "postgresql+psycopg2://u@127.0.0.1:5432/db"
    )
    assert with_installed_driver("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert with_installed_driver("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_a_runs_page_is_on_its_server_or_where_make_ui_serves_it(monkeypatch):
    """What a training's last lines and a sweep's say to open a run: the server's page (without
    the credentials a URI may hold), else the page `make ui` serves, and how to start it."""
    page = "#/experiments/3/runs/abc"
    server = "https://ana:secret@mlflow.example.org:8443/mlflow/"
    assert run_page(server, "3", "abc") == f"https://mlflow.example.org:8443/mlflow/{page}"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    expected = f"http://127.0.0.1:5000/{page} (start the UI with `make ui`)"
    assert run_page(default_tracking_uri(), "3", "abc") == expected
    other = "sqlite:////elsewhere/mlflow.db"
    assert run_page(other, "3", "abc").endswith(f"(start the UI with `MLFLOW_TRACKING_URI={other} make ui`)")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)  # where `make ui` looks first
    assert run_page(other, "3", "abc") == expected


def test_a_database_that_takes_no_connection_is_named(project):
    port = _free_port()  # nobody listens: MLflow alone would retry for minutes, a warning each time
    code, stderr = _train(project, f"postgresql://dropout:secret@127.0.0.1:{port}/mlflow")
    assert code == 2
    line = one_error_line(stderr)
    assert (
        f"the tracking database postgresql+psycopg2://dropout:***@127.0.0.1:{port}/mlflow takes no connection"
        in line
    )
    assert "Connection refused" in line


def _train_as(project, uri: str, prefix: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    import subprocess
    import sys

    from tests.helpers.process_runs import ROOT, env_for

    root, data = project
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "pipeline.train", *data, *TINY], cwd=root,
        env={**env_for(root, uri), "PYTHONPATH": str(ROOT), **(env or {})},
        text=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return done.returncode, done.stderr


def test_an_unwritable_sqlite_folder_is_named(project, tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir()
    prefix = read_only_for_child([locked])
    uri = f"sqlite:///{locked / 'stores' / 'mlflow.db'}"
    code, stderr = _train_as(project, uri, prefix)  # type: ignore[arg-type]
    assert code == 2
    line = one_error_line(stderr)
    assert f"the tracking store {uri} cannot be written: {locked / 'stores'} (Permission denied)" in line
    assert not (locked / "stores").exists()


def test_a_folder_store_is_refused_with_the_sqlite_uri_to_use_and_unwritable_when_allowed(
    project, tmp_path: Path
):
    folder = tmp_path / "mlruns"
    code, stderr = _train(project, folder.as_uri())
    assert code == 2
    line = one_error_line(stderr)
    assert f"is a folder, which MLflow no longer keeps runs in: use sqlite:///{folder / 'mlflow.db'}" in line
    assert not folder.exists()  # refused before anything was made

    locked = tmp_path / "locked"
    locked.mkdir()
    prefix = read_only_for_child([locked])
    uri = (locked / "mlruns").as_uri()
    code, stderr = _train_as(project, uri, prefix, env={"MLFLOW_ALLOW_FILE_STORE": "true"})  # type: ignore[arg-type]
    assert code == 2
    assert f"the tracking store {uri} cannot be written" in one_error_line(stderr)
