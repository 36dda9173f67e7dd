"""Tracking URIs of the team server (`make server AUTH=1`: PostgreSQL + `mlflow server` with basic
auth, started for real on 127.0.0.1): a refused or missing password ends `python -m pipeline.train`
with one line, the right one trains; a bare `postgresql://` URI into its PostgreSQL trains too
(SQLAlchemy 2.1 would read it as psycopg 3, which is not installed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from pipeline.tools import postgres
from tests.helpers.process_runs import one_error_line, preprocessed_project, run_stage
from tests.helpers.team_fixtures import TrackingServer, tracking_server

# Slow tier: a real PostgreSQL and mlflow server for the module.
pytestmark = pytest.mark.slow

TINY = ["model.hidden_units=[8]", "train.epochs=1", "tracking.log_model=false", "eval.mc_samples=0"]


@pytest.fixture(scope="module")
def team() -> Iterator[TrackingServer]:
    with tracking_server(auth=True) as running:
        yield running


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return preprocessed_project(tmp_path_factory.mktemp("team-uris"))


def test_a_refused_or_missing_password_is_one_line_and_the_right_one_trains(team, project):
    root, data = project
    user, password = team.layout.credentials.read_text().split("\n")[:2]

    def train(**credentials: str):
        env = {f"MLFLOW_TRACKING_{key.upper()}": value for key, value in credentials.items()}
        return run_stage("train", root, team.url, *data, *TINY, env=env)

    refused = train(username=user, password=password + "-wrong")
    assert refused.returncode == 2
    line = one_error_line(refused.stderr)
    assert f"the tracking server {team.url} refused the password of user {user!r} (HTTP 401)" in line
    assert "MLFLOW_TRACKING_PASSWORD" in line and password not in line

    anonymous = train()
    assert anonymous.returncode == 2
    assert f"the tracking server {team.url} asks for a user (HTTP 401)" in one_error_line(anonymous.stderr)
    assert not list(root.glob("outputs/**/model.keras"))

    accepted = train(username=user, password=password)
    assert accepted.returncode == 0, accepted.stderr[-3000:]


def test_a_bare_postgresql_uri_trains_into_that_database(team, project, monkeypatch: pytest.MonkeyPatch):
    root, data = project
    cluster = team.settings.cluster(team.layout)
    postgres.ensure_database(cluster, "bare_uri")
    uri = cluster.uri("bare_uri").replace("postgresql+psycopg2://", "postgresql://")
    done = run_stage("train", root, uri, *data, *TINY, env={"PGPASSFILE": str(cluster.pgpass)})
    assert done.returncode == 0, done.stderr[-3000:]

    monkeypatch.setenv("PGPASSFILE", str(cluster.pgpass))  # libpq reads the password from it
    client = MlflowClient(tracking_uri=uri.replace("postgresql://", "postgresql+psycopg2://"))
    experiment = client.get_experiment_by_name("dropout-lab")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert [run.info.status for run in runs] == ["FINISHED"]
    assert "test_accuracy" in runs[0].data.metrics
