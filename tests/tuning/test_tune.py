"""A hyperparameter search (`python -m pipeline.tune`), for real on tiny data: trials as MLflow
children of one parent, a pruned trial, the best values and plots on the parent, a search resumed
after SIGTERM without counting a trial twice, and two parallel workers on one study."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from pipeline.core.errors import ConfigError
from pipeline.tracking.tags import (
    PARENT_TAG,
    TAG_BEST_PREFIX,
    TAG_BEST_RUN,
    TAG_PID,
    TAG_ROLE,
    TAG_TRIAL,
    TAG_TRIAL_STATE,
)
from tests.helpers.process_runs import LIBRARY_NOISE
from tests.helpers.synthetic import SyntheticMnist, downloaded_project, synthetic_overrides

ROOT = Path(__file__).resolve().parents[2]
TINY = ["model.hidden_units=[16]", "train.epochs=3", "train.progress=false", "hparams_search=dropout_optuna"]
GOOD_A = "{model.dropout.rate:0.0,model.dropout.input_rate:0.0,train.learning_rate:0.01}"
GOOD_B = "{model.dropout.rate:0.2,model.dropout.input_rate:0.0,train.learning_rate:0.005}"
BAD = "{model.dropout.rate:0.0,model.dropout.input_rate:0.0,train.learning_rate:1.0}"


def _command(root: Path, *overrides: str, multirun: bool = False) -> list[str]:
    sweep_dir = [f"hydra.sweep.dir={root}/multirun"] if multirun else [f"hydra.run.dir={root}/outputs"]
    return [sys.executable, "-m", "pipeline.tune", *(["-m"] if multirun else []), *overrides, *sweep_dir]


def _env(root: Path, uri: str) -> dict[str, str]:
    env = {**os.environ, "DROPOUT_LAB_ROOT": str(root), "MLFLOW_TRACKING_URI": uri}
    env.pop("MLFLOW_RUN_ID", None)
    return env


def _setup(synthetic_mnist: SyntheticMnist, tmp_path: Path) -> tuple[Path, str, list[str]]:
    root = downloaded_project(tmp_path, synthetic_mnist)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return root, uri, [*synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s), *TINY]


def _runs(uri: str) -> tuple[list, list]:
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("dropout-lab").experiment_id])
    parents = [r for r in runs if r.data.tags.get(TAG_ROLE) == "search"]
    trials = [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]
    return parents, trials


def _study(tmp_path: Path, name: str = "dropout_optuna") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'optuna.db'}")


def test_a_search_prunes_a_bad_trial_and_records_the_best_on_its_parent(synthetic_mnist, tmp_path):
    root, uri, overrides = _setup(synthetic_mnist, tmp_path)
    # Two good points first (the median pruner waits for 2 finished trials), then a learning rate
    # that explodes: worse than both after epoch 1, so it is pruned there.
    search = [
        "search.n_trials=3", "search.pruner.n_startup_trials=2", "search.pruner.n_warmup_steps=0",
        "search.params.train.learning_rate.high=1.0", f"search.enqueue=[{GOOD_A},{GOOD_B},{BAD}]",
    ]  # fmt: skip
    done = subprocess.run(_command(root, *overrides, *search), cwd=ROOT, env=_env(root, uri),
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 complete, 1 pruned" in done.stdout

    study = _study(tmp_path)  # beside the tracking store
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    parents, trials = _runs(uri)
    assert len(parents) == 1 and len(trials) == 3
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {t.data.tags[PARENT_TAG] for t in trials} == {parent.info.run_id}
    by_number = {int(t.data.tags[TAG_TRIAL]): t for t in trials}
    pruned = by_number[2]
    assert pruned.data.tags[TAG_TRIAL_STATE] == "PRUNED"
    assert [by_number[n].data.tags[TAG_TRIAL_STATE] for n in (0, 1)] == ["COMPLETE", "COMPLETE"]
    client = MlflowClient(tracking_uri=uri)
    # The pruned trial's curve stops where it was pruned; the others have every epoch.
    assert len(client.get_metric_history(pruned.info.run_id, "val_loss")) == 1
    assert len(client.get_metric_history(by_number[0].info.run_id, "val_loss")) == 3
    # The test split never chooses: no trial is evaluated on it.
    assert not any(key.startswith("test_") for t in trials for key in t.data.metrics)

    best = study.best_trial
    assert parent.data.tags[TAG_BEST_RUN] == by_number[best.number].info.run_id
    assert float(parent.data.tags[TAG_BEST_PREFIX + "model.dropout.rate"]) == pytest.approx(
        best.params["model.dropout.rate"]
    )
    assert parent.data.metrics["best_val_loss"] == pytest.approx(best.value)
    assert parent.data.metrics["n_pruned"] == 1
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "search")}
    assert {"search/optimization_history.png", "search/param_importances.png"} <= artifacts
    assert {"search/trials.csv", "search/best_params.json"} <= artifacts


def _wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.mark.slow
def test_a_search_stopped_by_sigterm_continues_with_the_same_command(synthetic_mnist, tmp_path):
    root, uri, overrides = _setup(synthetic_mnist, tmp_path)
    # Trials of seconds (batches of 4, one step per call), so the second is still training when
    # the signal arrives, however fast or loaded the machine.
    slow = ["train.epochs=20", "train.batch_size=4", "train.steps_per_execution=1"]
    command = _command(root, *overrides, "search.n_trials=3", "search.pruner.name=none", *slow)
    env = _env(root, uri)
    log = (tmp_path / "first.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def second_trial_training() -> bool:
        try:
            trials = _study(tmp_path).trials
        except Exception:  # the study is not created yet
            return False
        # an epoch reported: its MLflow run exists and it trains
        return len(trials) >= 2 and trials[1].state.name == "RUNNING" and bool(trials[1].intermediate_values)

    try:
        _wait_for(second_trial_training, 600, "the second trial to train an epoch")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 128 + signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
    first = (tmp_path / "first.log").read_text()
    assert "continue with: python -m pipeline.tune" in first, first[-2000:]
    assert [t.state.name for t in _study(tmp_path).trials] == ["COMPLETE", "FAIL"]
    (parent,), trials = _runs(uri)
    assert parent.info.status == "KILLED"
    assert sorted(t.info.status for t in trials) == ["FINISHED", "KILLED"]

    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    states = [t.state.name for t in _study(tmp_path).trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]  # 3 counted, the killed one not
    (again,), trials = _runs(uri)
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    assert sorted(t.info.status for t in trials) == ["FINISHED", "FINISHED", "FINISHED", "KILLED"]
    assert again.data.metrics["n_counted"] == 3


@pytest.mark.slow
def test_two_parallel_workers_share_one_study_and_one_parent(synthetic_mnist, tmp_path):
    root, uri, overrides = _setup(synthetic_mnist, tmp_path)
    command = _command(root, *overrides, "search.n_trials=4", "train.epochs=2", "search.worker=0,1",
                       multirun=True)  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=_env(root, uri), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "#0 : " in output and "#1 : " in output  # the launcher's jobs, listed
    assert not [noise for noise in (*LIBRARY_NOISE, "ExperimentalWarning") if noise in output], output[-5000:]

    study = _study(tmp_path)
    counted = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    # Each worker stops once the study counts 4; one may have started a trial just before.
    assert 4 <= len(counted) <= 5 and len(study.trials) == len(counted)
    (parent,), trials = _runs(uri)
    assert parent.info.status == "FINISHED"
    assert len(trials) == len(study.trials)
    assert {t.data.tags[PARENT_TAG] for t in trials} == {parent.info.run_id}
    assert len({t.data.tags[TAG_PID] for t in trials}) == 2  # both workers trained trials
    assert len({t.data.tags[TAG_TRIAL] for t in trials}) == len(trials)  # no trial twice


def test_a_search_refuses_a_key_it_cannot_search(tmp_path):
    from pipeline.tuning.space import check_space
    from tests.helpers.synthetic import synthetic_settings, write_synthetic_mnist

    md5s = write_synthetic_mnist(tmp_path / "m")
    settings = synthetic_settings(tmp_path / "m", md5s, "hparams_search=dropout_optuna",
                                  "search.params.model.dropout.rate.high=1.5")  # fmt: skip
    with pytest.raises(ConfigError, match=r"search.params.model.dropout.rate"):
        check_space(settings)
    with pytest.raises(ConfigError, match="hparams_search"):
        check_space(synthetic_settings(tmp_path / "m", md5s))


def test_make_tune_runs_the_dropout_search_with_extra_overrides():
    done = subprocess.run(["make", "-n", "tune", "ARGS=search.n_trials=2"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "-m pipeline.tune hparams_search=dropout_optuna search.n_trials=2" in done.stdout
