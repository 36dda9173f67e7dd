"""The Python API (pipeline.api): compose, train (untracked and tracked), evaluate, compare; and the
example notebook, executed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import api
from pipeline.core.errors import ConfigError
from pipeline.training.loop import build_and_fit
from tests.helpers.synthetic import SyntheticMnist, downloaded_project, synthetic_overrides

ROOT = Path(__file__).resolve().parents[2]


def test_compose_takes_overrides_and_validates():
    settings = api.compose(["train.epochs=2", "model.dropout.rate=0.3"])
    assert settings.train.epochs == 2 and settings.model.dropout.rate == 0.3
    assert api.with_rate(settings, 0.1).model.dropout.rate == 0.1
    with pytest.raises(ConfigError, match=r"model\.dropout\.rate"):
        api.compose(["model.dropout.rate=1.5"])


def test_untracked_training_is_the_pipelines_training(tiny_settings, tiny_data, tmp_path):
    run = api.train(tiny_settings, tiny_data, folder=tmp_path / "run")
    assert run.run_id is None and len(run.history) == tiny_settings.train.epochs
    assert run.history.equals(build_and_fit(tiny_settings, tiny_data).history)
    assert (tmp_path / "run" / "history.csv").is_file() and (tmp_path / "run" / "model.keras").is_file()
    assert 0.0 <= api.evaluate(run, tiny_data)["test_accuracy"] <= 1.0

    other = api.train(api.with_rate(tiny_settings, 0.0), tiny_data)
    comparison = api.compare({"a": run, "b": other})
    assert list(comparison.table.index) == ["rate 0", "rate 0.2"]  # lowest rate first
    assert comparison.finding.startswith("## Finding") and comparison.figure.axes


def test_tracked_training_records_an_mlflow_run(tiny_settings, tiny_data, mlflow_store, tmp_path):
    from mlflow import MlflowClient

    run = api.train(tiny_settings, tiny_data, tracked=True, folder=tmp_path / "run")
    recorded = MlflowClient(mlflow_store).get_run(run.run_id)
    assert recorded.info.status == "FINISHED" and "test_accuracy" in recorded.data.metrics
    assert (tmp_path / "run" / "eval_metrics.json").is_file()


def test_a_script_without_logging_prints_one_line_per_epoch(tmp_path):
    """Jupyter and plain scripts configure no logging: the epoch lines must still be seen."""
    script = (
        "from pipeline import api\n"
        "from tests.helpers.training_fixtures import make_tiny_data, tiny_settings_with\n"
        "api.train(tiny_settings_with('train.progress=true'), make_tiny_data())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1", "2", "3"], done.stdout


@pytest.mark.slow
def test_the_example_notebook_runs(synthetic_mnist: SyntheticMnist, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    root = downloaded_project(tmp_path, synthetic_mnist)
    overrides = [
        *synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s),
        "data.train_size=null",
        "train.epochs=3",
        "model.hidden_units=[16]",
    ]
    monkeypatch.setenv("DROPOUT_LAB_ROOT", str(root))
    monkeypatch.setenv("DROPOUT_LAB_NOTEBOOK_OVERRIDES", json.dumps(overrides))
    notebook = nbformat.read(ROOT / "notebooks" / "dropout_story.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": root}}
    ).execute()
    outputs = "".join(
        out.get("text", "") + json.dumps(out.get("data", {}))
        for cell in notebook.cells
        for out in cell.get("outputs", [])
    )
    assert "epoch 3 " in outputs and "## Finding" in outputs and "image/png" in outputs
