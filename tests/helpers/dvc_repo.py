"""A git repo holding a copy of this project, on synthetic data served as a local mirror, with a tiny
net, for the tests that run DVC as a user does (tests/stages/test_dvc_pipeline.py and
test_dvc_experiments.py). Each of those files makes its own repo and its own baseline `dvc repro`,
so the two can run side by side."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.commands import run_to_files
from tests.helpers.project_copy import copy_project
from tests.helpers.synthetic import write_synthetic_mnist

VENV_BIN = Path(sys.executable).parent
DVC = str(VENV_BIN / "dvc")
RATES = ("0.0", "0.5")
SEEDS = ("1", "2")
# The DVC matrix's items as its stage names end (`train@0.5-2`) and as its outputs are named.
ITEMS = tuple(f"{rate}-{seed}" for rate in RATES for seed in SEEDS)
LABELS = tuple(f"rate_{rate}_seed_{seed}" for rate in RATES for seed in SEEDS)

# Tiny settings merged into the copy's conf/config.yaml (its `_self_`), so DVC's own Hydra
# composition keeps them and presets (`-S experiment=small_data`) still layer on top.
TINY: dict[str, Any] = {
    "data": {"files": {}},  # mirrors and md5s of the synthetic files: filled in by make_repo
    "model": {"hidden_units": [16]},
    "train": {"epochs": 2},
    "eval": {"mc_samples": 3},
    "tracking": {"log_model": False},
    "sweep": {"rates": [0.0, 0.5], "seeds": [1, 2]},
}


def run(
    repo: Path, *args: str, ok: bool = True, default_store: bool = False, tracking_uri: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command in `repo`; MLflow logs to `tracking_uri`, else the repo's mlflow.db, named
    explicitly unless `default_store` (then the code must find that store itself, as for a user)."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env["MLFLOW_TRACKING_URI"] = tracking_uri or f"sqlite:///{repo / 'mlflow.db'}"
    if default_store:
        del env["MLFLOW_TRACKING_URI"]
    for key in ("DROPOUT_LAB_ROOT", "DROPOUT_LAB_DATA_MIRROR", "MLFLOW_RUN_ID", "DROPOUT_LAB_PARENT_RUN_ID"):
        env.pop(key, None)
    done = run_to_files(args, repo, env)
    if ok:
        assert done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def git(repo: Path, *args: str) -> str:
    return run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", *args).stdout


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _merge(base[key], value) if both else value
    return merged


def make_repo(base: Path, settings: dict[str, Any] | None = None) -> Path:
    """A git repo holding this project's files (committed or not, minus ignored ones), tiny settings
    (and `settings` over them)."""
    mirror = base / "mirror"
    md5s = write_synthetic_mnist(mirror, n_train=300, n_test=60, seed=0)
    repo = base / "repo"
    copy_project(repo)
    data = {"data": {"mirrors": [str(mirror)], "files": {k: {"md5": v} for k, v in md5s.items()}}}
    tiny = _merge(_merge(TINY, data), settings or {})
    config = repo / "conf" / "config.yaml"
    config.write_text(yaml.safe_dump(_merge(yaml.safe_load(config.read_text()), tiny), sort_keys=False))
    run(repo, sys.executable, "-m", "pipeline.core.params")
    run(repo, "git", "init", "-q")
    run(repo, "git", "add", "-A")
    git(repo, "commit", "-qm", "copy")
    return repo


def reproduce(repo: Path) -> Path:
    """One whole `dvc repro`, its small results committed: the baseline. What it printed is kept in
    `repro.log` beside the repo (`repro_output`)."""
    done = run(repo, DVC, "repro")
    (repo.parent / "repro.log").write_text(done.stdout + done.stderr)
    run(repo, "git", "add", "-A")
    git(repo, "commit", "-qm", "results")
    return repo


def repro_output(repo: Path) -> dict[str, list[str]]:
    """The baseline `dvc repro`'s log messages by stage (`train@0.0`): each line's text after
    Hydra's `[time][logger][LEVEL] - `, in order."""
    stages: dict[str, list[str]] = {}
    messages: list[str] = []
    for line in (repo.parent / "repro.log").read_text().splitlines():
        if line.startswith("Running stage '"):
            messages = stages.setdefault(line.split("'")[1], [])
        elif "][INFO] - " in line or "][WARNING] - " in line:
            messages.append(line.split("] - ", 1)[1])
    return stages


def restore_baseline(repo: Path) -> None:
    """Put the workspace back to HEAD (params, lock, small results) and its cached outputs."""
    run(repo, "git", "reset", "-q", "--hard")
    run(repo, "git", "clean", "-fdq")  # results of rates HEAD does not sweep (not ignored ones)
    run(repo, DVC, "checkout", "--force")


def rows(table: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`dvc exp show --json` rows by name: the workspace, each commit (by rev) and each experiment."""
    found: dict[str, dict[str, Any]] = {}
    for commit in table:
        found[commit["rev"]] = commit["data"]
        for experiment in commit.get("experiments") or []:
            for rev in experiment["revs"]:
                found[rev["name"]] = {**rev["data"], "rev": rev["rev"]}
    return found


SUMMARY = "metrics/summary.json"


def accuracy_of(row: dict[str, Any], rate: str) -> float:
    """The row's own mean test accuracy for `rate` over its seeds, from the compare stage's summary:
    a number, not DVC's `!` (unreadable) or `-` (absent)."""
    found = row["metrics"].get(SUMMARY)
    assert found and "data" in found, f"rev {row['rev']}: no {SUMMARY}: {found}"
    return found["data"][f"rate_{rate}"]["test_accuracy"]["mean"]


def params(row: dict[str, Any]) -> dict[str, Any]:
    return row["params"]["params.yaml"]["data"]
