"""What `dvc exp show` shows of the committed results (this checkout's own `dvc.yaml`, `params.yaml`,
`dvc.lock` and small results): the compare stage's one summary per rate as the only metrics, each
run adding only its evaluation's inputs, and DVC's rule for params, counted on `dvc exp show --csv`
as a user runs it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DVC = str(Path(sys.executable).parent / "dvc")
SUMMARY = "metrics/summary.json"
# The columns every row has before its data: name, revision, type, date, parent.
LEADING = ["Experiment", "rev", "typ", "Created", "parent"]


def _exp_show(*args: str) -> str:
    done = subprocess.run([DVC, "exp", "show", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _leaves(tree: object, prefix: str = "") -> list[str]:
    if isinstance(tree, dict):
        return [leaf for key, value in tree.items() for leaf in _leaves(value, f"{prefix}{key}.")]
    return [prefix.removesuffix(".")]


def _matrix_items() -> int:
    sweep = yaml.safe_load((ROOT / "params.yaml").read_text())["sweep"]
    return len(sweep["rates"]) * len(sweep["seeds"])


def test_dvc_exp_show_has_one_summary_per_rate_as_metrics_and_each_run_adds_only_its_inputs():
    header = next(csv.reader(io.StringIO(_exp_show("--csv"))))
    (row,) = [r for r in json.loads(_exp_show("--json")) if r["rev"] == "workspace"]
    data = row["data"]
    summary = json.loads((ROOT / SUMMARY).read_text())
    rates = yaml.safe_load((ROOT / "params.yaml").read_text())["sweep"]["rates"]

    metrics = [leaf for file in data["metrics"].values() for leaf in _leaves(file["data"])]
    params = [leaf for file in data["params"].values() for leaf in _leaves(file["data"])]
    assert header[: len(LEADING)] == LEADING
    assert len(header) == len(LEADING) + len(metrics) + len(params) + len(data["deps"])

    # metrics: the summary alone, per rate the mean and 95% interval bounds of 3 numbers, at most 30
    assert set(data["metrics"]) == {SUMMARY}
    assert set(summary) == {f"rate_{float(rate)}" for rate in rates}
    assert len(metrics) == 9 * len(rates) <= 30, metrics
    assert not [column for column in header if "per_class" in column or "metrics/eval/" in column]

    # dependencies: the stages' code folders and data, the same for any matrix, and per item its
    # model and its learning curve (the evaluation's inputs); no run's own metrics file
    per_item = [dep for dep in data["deps"] if dep.startswith(("models/rate_", "plots/history/rate_"))]
    shared = sorted(set(data["deps"]) - set(per_item))
    assert len(per_item) == 2 * _matrix_items(), per_item
    assert all(dep.startswith(("pipeline", "data/", "metrics/", "plots/")) for dep in shared), shared
    assert len(shared) <= 21, shared  # 15 code entries, the data, compare's inputs


def test_the_documented_drop_leaves_the_summary_and_the_params_dvc_runs_read():
    """DVC lists every key of params.yaml, model.dropout.rate and train.seed included, which each
    matrix item sets itself (docs/dvc.md says why DVC cannot leave them out); the command
    docs/dvc.md gives drops them and every dependency hash."""
    drop = "pipeline/|models/|plots/|metrics/|data/|model.dropout.rate|train.seed"
    assert drop in (ROOT / "docs" / "dvc.md").read_text()
    plain = next(csv.reader(io.StringIO(_exp_show("--csv"))))
    shown = next(csv.reader(io.StringIO(_exp_show("--csv", "--drop", drop))))
    assert "train.seed" in plain and "model.dropout.rate" in plain
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    metrics = _leaves(json.loads((ROOT / SUMMARY).read_text()))
    kept = [key for key in _leaves(params) if key not in ("model.dropout.rate", "train.seed")]
    assert sorted(shown) == sorted([*LEADING, *metrics, *kept])
