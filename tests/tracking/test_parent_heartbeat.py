"""Long parents stay alive: a sweep's (and a search's) parent run beats a heartbeat while its jobs
run, so a reconciliation on another host, which can judge it by its heartbeat alone, never ends a
sweep that runs longer than `tracking.stale_after_s`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.core.params import composed_settings
from pipeline.tracking import reconcile as runs
from pipeline.tracking.heartbeat import ParentHeartbeat
from pipeline.tracking.store import Store, TrackedRun
from pipeline.tracking.tags import TAG_ROLE
from tests.helpers.synthetic import SyntheticMnist, downloaded_project, synthetic_overrides

ROOT = Path(__file__).resolve().parents[2]


def test_a_beating_parent_is_not_stale_elsewhere_and_a_silent_one_is(mlflow_store, monkeypatch):
    store = Store(mlflow_store)
    exp = store.experiment_id("test")
    silent = store.client.create_run(exp, tags=runs.identity_tags()).info.run_id
    beating = store.client.create_run(exp, tags=runs.identity_tags()).info.run_id
    cfg = composed_settings().tracking.model_copy(update={"uri": mlflow_store, "stale_after_s": 1.0})
    with ParentHeartbeat(store, beating, cfg.stale_after_s) as heartbeat:
        assert heartbeat.interval == 0.25
        time.sleep(2.0)
        monkeypatch.setattr(runs.socket, "gethostname", lambda: "another-host")  # reconcile from elsewhere
        ended = {run_id for run_id, _ in runs.reconcile(cfg)}
    assert ended == {silent}
    assert store.run(beating).status == "RUNNING" and store.run(silent).status == "FAILED"


@pytest.mark.slow
def test_a_sweep_longer_than_stale_after_s_is_never_stale_while_its_jobs_run(
    synthetic_mnist: SyntheticMnist, tmp_path: Path
):
    root = downloaded_project(tmp_path, synthetic_mnist)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "DROPOUT_LAB_ROOT": str(root), "MLFLOW_TRACKING_URI": uri}
    env.pop("MLFLOW_RUN_ID", None)
    overrides = [
        *synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s), "model.dropout.rate=0,0.5",
        "model.hidden_units=[16]", "train.epochs=2", "tracking.log_model=false", "tracking.stale_after_s=2",
        f"hydra.sweep.dir={root}/multirun",
    ]  # fmt: skip
    client = Store(uri).client  # the store exists before the sweep starts: no race over its creation
    log = (tmp_path / "sweep.log").open("w")
    sweep = subprocess.Popen([sys.executable, "-m", "pipeline.train", "-m", *overrides], cwd=ROOT, env=env,
                             stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    judged = []
    try:
        while sweep.poll() is None:
            time.sleep(0.5)
            experiment = client.get_experiment_by_name("dropout-lab")
            if experiment is None:
                continue
            found = client.search_runs([experiment.experiment_id], f"tags.`{TAG_ROLE}` = 'sweep'")
            if not found or found[0].info.status != "RUNNING":
                continue
            parent = TrackedRun.of(found[0])
            age = time.time() - parent.start_ms / 1000
            if age > 3.0:  # longer than stale_after_s: only its heartbeat keeps it alive elsewhere
                judged.append(runs.why_stale(parent, 2.0, host="another-host"))
        assert sweep.wait(timeout=600) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert judged, "the sweep ended before it ran longer than stale_after_s"
    assert judged == [None] * len(judged)
    (parent,) = client.search_runs([client.get_experiment_by_name("dropout-lab").experiment_id],
                                   f"tags.`{TAG_ROLE}` = 'sweep'")  # fmt: skip
    assert parent.info.status == "FINISHED"
