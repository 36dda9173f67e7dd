"""Live progress: a running training's history and metrics files grow epoch by epoch (what `dvc exp
show` and `dvc plots show` read), a sweep's jobs say how many of all are done, and the keys a sweep
varies (which label each job's lines) are read as Hydra's sweeper reads them."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import DictConfig, OmegaConf

from pipeline.launchers.sweep_callback import BASIC_SWEEPER, count_jobs, progress_line, swept_keys
from pipeline.training.epoch_metrics import HISTORY_COLUMNS
from tests.helpers.process_runs import SLOW_EPOCHS, make_project, start_training, stop
from tests.helpers.synthetic import SyntheticMnist, downloaded_project, synthetic_overrides
from tests.launchers.test_sweep import TINY, _multirun

EPOCHS = 8


def _epochs_written(history: Path) -> int:
    """Epochs in the history file (0 before its first write); it always parses: writes are atomic."""
    if not history.exists():
        return 0
    frame = pd.read_csv(history)
    assert list(frame.columns) == HISTORY_COLUMNS
    assert list(frame["epoch"]) == list(range(1, len(frame) + 1))
    return len(frame)


def _wait_for_more_than(history: Path, epochs: int, child: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        written = _epochs_written(history)
        if written > epochs:
            return written
        assert child.poll() is None, f"training ended early: {child.communicate()[1][-3000:]}"
        time.sleep(0.02)
    raise AssertionError(f"the history never went past {epochs} epochs within 300 s")


def test_a_running_training_rewrites_its_history_and_metrics_every_epoch(tmp_path: Path):
    root, data = make_project(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    child = start_training(root, uri, *data, *SLOW_EPOCHS, f"train.epochs={EPOCHS}")
    run_dir = root / "outputs" / "run"
    try:
        first = _wait_for_more_than(run_dir / "history.csv", 0, child)
        assert first < EPOCHS, "the history was written only once the training had finished"
        assert json.loads((run_dir / "train_metrics.json").read_text())["epochs"] >= first
        assert _wait_for_more_than(run_dir / "history.csv", first, child) > first
    finally:
        stop(child)


def test_the_number_of_jobs_counts_command_line_and_preset_sweeps():
    config = OmegaConf.create(
        {
            "hydra": {
                "sweeper": {"_target_": BASIC_SWEEPER, "params": {"train.seed": "1,2,3"}},
                "overrides": {"task": ["model.dropout.rate=0,0.5", "train.epochs=2"]},
            }
        }
    )
    assert count_jobs(config) == 6
    assert progress_line(4, 6, 83.7) == "sweep: 4/6 jobs done, 0:01:23 elapsed"
    assert progress_line(4, None, 5) == "sweep: 4 jobs done, 0:00:05 elapsed"


def _sweep_config(params: dict[str, str], task: list[str], sweeper: str = BASIC_SWEEPER) -> DictConfig:
    return OmegaConf.create(
        {"hydra": {"sweeper": {"_target_": sweeper, "params": params}, "overrides": {"task": task}}}
    )


def test_the_swept_keys_are_those_with_several_values_from_the_command_line_or_a_preset():
    preset = {"model.dropout.rate": "0,0.5", "train.seed": "1,2,3"}
    task = ["experiment=paper_rates", "data.train_size=range(100,300,100)", "train.epochs=2"]
    assert swept_keys(_sweep_config(preset, task)) == ["model.dropout.rate", "train.seed", "data.train_size"]
    # A key fixed on the command line is no longer swept, as for the sweeper (a later override wins).
    assert swept_keys(_sweep_config(preset, ["train.seed=1"])) == ["model.dropout.rate"]
    assert swept_keys(_sweep_config({}, ["train.epochs=2"])) == []
    assert swept_keys(_sweep_config({}, ["model.dropout.rate=0,0.5"], sweeper="some.OtherSweeper")) is None


@pytest.mark.slow
def test_each_job_of_a_sweep_says_how_many_are_done(synthetic_mnist: SyntheticMnist, tmp_path):
    root = downloaded_project(tmp_path, synthetic_mnist)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    overrides = [*synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s), *TINY]
    done = _multirun(root, uri, "model.dropout.rate=0,0.5", "eval.mc_samples=0", *overrides)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "sweep: 1/2 jobs done, 0:" in output, output[-3000:]
    assert "sweep: 2/2 jobs done, 0:" in output
    assert "[rate=0] epoch 1  loss" in output and "[rate=0.5] epoch 1  loss" in output  # whose each line is
