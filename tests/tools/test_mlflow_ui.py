"""The MLflow UI, as `make ui` starts it, in real headless Chromium: a sweep's runs page shows the parent
run with its children, on a lean server (no job-execution workers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from pipeline.tools import server, ui
from pipeline.tracking.tags import EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND, TAG_ROLE
from tests.helpers.browser import look_at
from tests.helpers.synthetic import SyntheticMnist, downloaded_project, synthetic_overrides
from tests.helpers.team_fixtures import free_port, processes_naming

# Slow tier: a sweep, then the MLflow UI in headless Chromium.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TINY = ["model.hidden_units=[16]", "train.epochs=2", "eval.mc_samples=3", "tracking.log_model=false"]


def test_the_runs_page_of_a_sweep_shows_the_parent_with_its_children(
    synthetic_mnist: SyntheticMnist, tmp_path: Path
):
    root = downloaded_project(tmp_path, synthetic_mnist)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "DROPOUT_LAB_ROOT": str(root), "MLFLOW_TRACKING_URI": uri}
    env.pop("MLFLOW_RUN_ID", None)
    overrides = [*synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s), *TINY]
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.train", "-m", "model.dropout.rate=0,0.5", *overrides,
         f"hydra.sweep.dir={root}/multirun"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("dropout-lab").experiment_id])
    (parent,) = [r.info.run_name for r in runs if r.data.tags[TAG_ROLE] == "sweep"]
    children = sorted(r.info.run_name for r in runs if r.data.tags[TAG_ROLE] == "train")
    assert len(children) == 2

    port = free_port()
    process = ui.start_ui(uri, port)
    try:
        members = server.group_members(process.pid)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in members]
        assert not [c for c in commands if b"huey" in c], "job-execution workers started"
        url = ui.runs_page(uri, f"http://127.0.0.1:{port}", "dropout-lab")
        shown = look_at(url, tmp_path / "runs.png", [parent], children)
    finally:
        server.stop_group(process.pid)
    # The model-training side bar (runs, models, registry), not GenAI's (judges, sessions, prompts).
    assert "Model registry" in shown and "Judges" not in shown and "Sessions" not in shown
    assert (tmp_path / "runs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tags = client.get_experiment_by_name("dropout-lab").tags
    assert tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING_KIND
    assert not processes_naming(str(tmp_path / "mlflow.db"))
