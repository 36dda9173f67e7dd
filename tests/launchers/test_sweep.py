"""A Hydra multirun over dropout rates: one MLflow parent run, one child per job (joblib processes),
and output that says whose each line is: every epoch line and a job's last lines carry the job's
label, and the sweep ends by naming its report and its parent run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from scipy import stats as scipy_stats

from pipeline.tracking.tags import TAG_PID, TAG_ROLE, TAG_SWEEP
from tests.helpers.process_runs import LIBRARY_NOISE
from tests.helpers.synthetic import SyntheticMnist, downloaded_project, synthetic_overrides

ROOT = Path(__file__).resolve().parents[2]
TINY = ["model.hidden_units=[16]", "train.epochs=2", "eval.mc_samples=3", "tracking.log_model=false"]


def _multirun(root: Path, uri: str, *overrides: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DROPOUT_LAB_ROOT": str(root), "MLFLOW_TRACKING_URI": uri}
    env.pop("MLFLOW_RUN_ID", None)
    return subprocess.run(
        [sys.executable, "-m", "pipeline.train", "-m", *overrides, f"hydra.sweep.dir={root}/multirun"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_a_sweep_over_rates_and_seeds_makes_one_parent_and_reports_intervals_and_pairs(
    synthetic_mnist: SyntheticMnist, tmp_path
):
    root = downloaded_project(tmp_path, synthetic_mnist)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    overrides = [*synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s), *TINY]
    done = _multirun(
        root, uri, "model.dropout.rate=0,0.5", "train.seed=1,2", *overrides, "tracking.log_model=true",
        "+tags.team=vision",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    output = done.stdout + done.stderr  # the pipeline's own lines only, the jobs listed
    assert not [noise for noise in LIBRARY_NOISE if noise in output], output[-5000:]
    assert (
        "#0 : model.dropout.rate=0 train.seed=1" in output
        and "#3 : model.dropout.rate=0.5 train.seed=2" in output
    )

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("dropout-lab")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get(TAG_ROLE) == "sweep"]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 5 and len(children) == 4
    assert sorted((r.data.params["model.dropout.rate"], r.data.params["train.seed"]) for r in children) == [
        ("0.0", "1"), ("0.0", "2"), ("0.5", "1"), ("0.5", "2")
    ]  # fmt: skip
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags.get("team") for r in runs} == {"vision"}  # the user's tags, on parent and children
    pids = {r.data.tags[TAG_PID] for r in runs}
    assert len(pids) == 3  # the jobs ran in processes of their own, not in the sweep's
    assert "model.dropout.rate=0,0.5" in parent.data.params["sweep.overrides"]
    sweep_id = parent.data.tags[TAG_SWEEP]
    assert {r.data.tags[TAG_SWEEP] for r in children} == {sweep_id}
    # Each child was evaluated inside its own run, and the report went to the parent.
    assert all("test_accuracy" in r.data.metrics for r in children)
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/comparison.md", "report/comparison.json"} <= logged

    # The report: per rate a mean and interval over the 2 seeds; rate 0.5 paired with rate 0 by seed.
    out = root / "reports" / f"sweep_{sweep_id}"
    saved = json.loads((out / "comparison.json").read_text())
    for row in saved["rows"]:
        assert (row["n"], row["seeds"]) == (2, [1, 2])
        assert row["test_nll_low"] < row["test_nll_mean"] < row["test_nll_high"]
    nll = {(r.data.params["model.dropout.rate"], r.data.params["train.seed"]): r.data.metrics["test_nll"]
           for r in children}  # fmt: skip
    expected = scipy_stats.ttest_rel(
        [nll[("0.5", "1")], nll[("0.5", "2")]], [nll[("0.0", "1")], nll[("0.0", "2")]]
    )
    [pair] = [p for p in saved["paired"] if p["metric"] == "test_nll"]
    assert (pair["rate"], pair["seeds"], pair["n"]) == (0.5, [1, 2], 2)
    assert pair["p_value"] == pytest.approx(expected.pvalue)
    assert (pair["low"], pair["high"]) == (
        pytest.approx(expected.confidence_interval(0.95).low),
        pytest.approx(expected.confidence_interval(0.95).high),
    )
    text = (out / "comparison.md").read_text()
    assert "Complete runs per rate: 2 (seeds 1, 2)." in text
    assert "rate 0.5 against rate 0, paired on 2 seeds (1, 2):" in text
    assert "| 0.5 | test NLL | 2 |" in text and "nan" not in text.lower()

    _check_output_says_whose(done.stdout, root, parent, children)


def _messages(stdout: str) -> list[str]:
    """Each log line's message: what follows Hydra's `[time][logger][LEVEL] - ` or `[time][HYDRA] `."""
    return [re.sub(r"^\[[^]]*\]\[[^]]*\](\[\w+\] -)? ", "", line) for line in stdout.splitlines()]


def _check_output_says_whose(stdout: str, root: Path, parent, children) -> None:
    """Every epoch line starts with its job's label (its values of the swept keys, short names),
    each job's last lines give its test accuracy, its run and its folder under that label, and
    the sweep's last lines name its report and its parent run."""
    messages = _messages(stdout)
    epochs = [m for m in messages if re.search(r"epoch \d+  loss", m)]
    labelled = [re.fullmatch(r"\[(rate=[\d.]+ seed=\d)\] epoch (\d+)", m.split("  ")[0]) for m in epochs]
    assert all(labelled), epochs
    labels = {f"rate={rate} seed={seed}" for rate in ("0", "0.5") for seed in (1, 2)}
    assert sorted(m.groups() for m in labelled if m) == sorted((j, e) for j in labels for e in ("1", "2"))
    for child in children:
        rate, seed = child.data.params["model.dropout.rate"], child.data.params["train.seed"]
        prefix = f"[rate={'0' if rate == '0.0' else rate} seed={seed}] "
        accuracy, mc = child.data.metrics["test_accuracy"], child.data.metrics.get("mc_accuracy")
        # MC dropout's accuracy where there is dropout to sample (rate 0 gets none).
        mc_part = f", MC-dropout accuracy {mc:.4f} (3 passes)" if rate != "0.0" else ""
        assert any(m.startswith(f"{prefix}test accuracy {accuracy:.4f}{mc_part}; gap ") for m in messages)
        assert any(m.startswith(f"{prefix}MLflow run {child.info.run_id}: http://") for m in messages)
        folders = [m.removeprefix(f"{prefix}files: ") for m in messages if m.startswith(f"{prefix}files: ")]
        assert len(folders) == 1 and Path(folders[0]).parent == root / "multirun", folders
    sweep_id, parent_id = parent.data.tags[TAG_SWEEP], parent.info.run_id
    page = f"http://127.0.0.1:5000/#/experiments/{parent.info.experiment_id}/runs/{parent_id}"
    report = root / "reports" / f"sweep_{sweep_id}" / "comparison.md"
    ended = f"MLflow parent run {parent_id} ended FINISHED: {page} (start the UI with `make ui`)"
    assert messages[-2:] == [f"sweep {sweep_id}: report {report}", f"sweep {sweep_id}: {ended}"], stdout[
        -3000:
    ]


@pytest.mark.slow
def test_a_sweep_with_a_failing_job_ends_its_parent_failed(synthetic_mnist: SyntheticMnist, tmp_path):
    root = downloaded_project(tmp_path, synthetic_mnist)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    overrides = [*synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s), *TINY]
    # 10,000 training images do not exist in the synthetic set: both jobs fail with a clear error.
    done = _multirun(root, uri, "model.dropout.rate=0,0.5", "data.train_size=10000", *overrides)
    assert done.returncode != 0
    assert "data.train_size" in done.stderr and "Traceback" not in done.stderr

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("dropout-lab").experiment_id])
    statuses = {r.data.tags.get(TAG_ROLE): r.info.status for r in runs}
    assert statuses == {"sweep": "FAILED"}
