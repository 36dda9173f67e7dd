"""`make run`'s `python -m pipeline.tools.repro` in a real git repo with real DVC: the trainings of the
rates and seeds run side by side, and the result is what a plain `dvc repro` makes, byte for byte,
with the trainings grouped under one MLflow parent as one `dvc repro` groups them."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.helpers.dvc_repo import DVC, ITEMS, make_repo, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project on tiny synthetic data, 2 rates x 2 seeds so that trainings overlap."""
    return make_repo(tmp_path_factory.mktemp("parallel"))


def test_make_runs_repro_trains_side_by_side_and_equals_a_plain_dvc_repro(repo: Path):
    from mlflow import MlflowClient

    from pipeline.tracking.tags import TAG_ROLE, TAG_SOURCE

    done = run(repo, sys.executable, "-m", "pipeline.tools.repro", "--environment", "environment.json")
    assert "[train@0.5-1]" in done.stdout and "[evaluate@0.0-2]" in done.stdout
    # Side by side, each training's epoch lines carry its matrix item's label.
    for item in ITEMS:
        rate, seed = item.split("-")
        line = rf"^\[train@{item}\] .*\[rate={rate} seed={seed}\] epoch 2  loss"
        assert re.search(line, done.stdout, re.M), done.stdout
    assert "wrote environment.json" in done.stdout  # new results: the environment that made them
    assert "Data and pipelines are up to date" in run(repo, DVC, "status").stdout
    lock = (repo / "dvc.lock").read_bytes()
    outputs = {p: p.read_bytes() for p in sorted((repo / "metrics").rglob("*.json"))}

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("dropout-lab").experiment_id])
    groups = [
        r for r in runs if r.data.tags.get(TAG_ROLE) == "sweep" and r.data.tags.get(TAG_SOURCE) == "dvc"
    ]
    assert len(groups) == 1, "one invocation, one parent run"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == groups[0].info.run_id]
    trained = sorted((r.data.params["model.dropout.rate"], r.data.params["train.seed"]) for r in children)
    assert trained == [("0.0", "1"), ("0.0", "2"), ("0.5", "1"), ("0.5", "2")]
    assert {r.info.status for r in [groups[0], *children]} == {"FINISHED"}
    spans = sorted((r.info.start_time, r.info.end_time) for r in children)
    assert spans[1][0] < spans[0][1], f"the trainings ran one after another: {spans}"

    recorded = '{"cpu": "the host that made the results"}\n'
    (repo / "environment.json").write_text(recorded)
    again = run(repo, sys.executable, "-m", "pipeline.tools.repro", "--environment", "environment.json")
    assert "wrote environment.json" not in again.stdout  # every result reproduced: record kept
    assert (repo / "environment.json").read_text() == recorded

    run(repo, DVC, "repro", "--force")  # DVC's own, one stage at a time
    assert (repo / "dvc.lock").read_bytes() == lock
    assert {p: p.read_bytes() for p in sorted((repo / "metrics").rglob("*.json"))} == outputs
