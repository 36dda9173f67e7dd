"""Run options of the ecosystem: the user's `tags` on every run (trainings and their DVC parent; the
sweep parent in tests/test_sweep.py), never as params, and MLflow's system metrics per training
with `tracking.system_metrics=true`. Real trainings into a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import yaml

from pipeline.core.config import ConfigError, load_settings
from pipeline.core.layout import run_dir_files
from pipeline.core.params import compose_config
from pipeline.process.launch import Launch, Source
from pipeline.runs.tracked_training import train_tracked
from tests.helpers.training_fixtures import tiny_settings_with


def test_the_users_tags_land_on_the_training_and_its_dvc_parent(tiny_data, mlflow_store, tmp_path: Path):
    settings = tiny_settings_with("+tags.owner=ana", "+tags.ticket=12", "+tags.reviewed=true")
    launch = Launch(Source.DVC, dvc_invocation="tags-test")
    run_id, _ = train_tracked(settings, tiny_data, launch, run_dir_files(tmp_path / "run"))

    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    for tagged in (run, parent):
        assert {k: tagged.data.tags.get(k) for k in ("owner", "ticket", "reviewed")} == {
            "owner": "ana",
            "ticket": "12",
            "reviewed": "true",
        }
    assert not [key for key in run.data.params if key.startswith("tags")]


def test_a_tag_in_mlflows_or_the_pipelines_namespace_is_refused():
    """As a preset's YAML could write them (a Hydra override cannot put a dot in a key)."""
    config = yaml.safe_load(compose_config())
    config["tags"] = {"mlflow.runName": "mine", "dropout_lab.role": "mine", "owner": "ana"}
    with pytest.raises(ConfigError, match=r"\['dropout_lab.role', 'mlflow.runName'\]: keys under mlflow"):
        load_settings(config)


@pytest.mark.parametrize("on", [True, False])
def test_system_metrics_are_sampled_only_when_asked_for(
    on: bool, tiny_data, mlflow_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5")  # MLflow's: 10 s by default
    settings = tiny_settings_with(f"tracking.system_metrics={str(on).lower()}", "train.epochs=12")
    run_id, _ = train_tracked(settings, tiny_data, Launch(Source.HYDRA), run_dir_files(tmp_path / "run"))
    system = {key for key in mlflow.MlflowClient().get_run(run_id).data.metrics if key.startswith("system/")}
    if on:
        assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= system
    else:
        assert system == set()
