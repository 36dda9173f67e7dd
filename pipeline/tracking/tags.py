"""The names every run carries (tags, statuses, the parent-run link) and the git tags' values.

No MLflow import: the names are plain strings, so tests and reports can read runs by them.
"""

from __future__ import annotations

import os
import subprocess

from pipeline.core.paths import PROJECT_ROOT

# "sweep" (a parent: Hydra multirun or one DVC invocation), "train", "search" (a hyperparameter
# search's parent) or "trial" (one of its trainings)
TAG_ROLE = "dropout_lab.role"
TAG_SWEEP = "dropout_lab.sweep_id"
TAG_SOURCE = "dropout_lab.source"  # a launch.Source value
TAG_FINGERPRINT = "dropout_lab.data_fingerprint"
TAG_IMPL = "dropout_lab.dropout_impl"
TAG_COMMIT = "dropout_lab.git_commit"
TAG_DIRTY = "dropout_lab.git_dirty"
TAG_DVC_INVOCATION = "dropout_lab.dvc_invocation"
TAG_DVC_EXPERIMENT = "dropout_lab.dvc_experiment"
# A DVC training's batch: its experiment's baseline commit (DVC_EXP_BASELINE_REV; every experiment
# of one queued grid shares it), or the commit `dvc repro` ran on.
TAG_DVC_BASELINE = "dropout_lab.dvc_baseline"
# Where a run's process runs and when it last reported (pipeline.tracking.reconcile); why it was ended.
TAG_HOST = "dropout_lab.host"
TAG_PID = "dropout_lab.pid"
TAG_PROC_START = "dropout_lab.process_start"  # seconds since the epoch
TAG_HEARTBEAT = "dropout_lab.heartbeat"  # seconds since the epoch, updated every epoch
TAG_ENDED_BECAUSE = "dropout_lab.ended_because"
# The environment a training ran in (pipeline.core.environment): lock, versions, CPU, pins.
TAG_ENV_PREFIX = "dropout_lab.env."
TAG_RESUMED_FROM = "dropout_lab.resumed_from"  # the run whose checkpoint a new run started from
# A hyperparameter search (pipeline.tuning): its Optuna study, a trial's number and how it ended
# (COMPLETE or PRUNED), and on the parent the best trial's values (`dropout_lab.best.<key>`).
TAG_STUDY = "dropout_lab.study"
TAG_TRIAL = "dropout_lab.trial"
TAG_TRIAL_STATE = "dropout_lab.trial_state"
TAG_BEST_PREFIX = "dropout_lab.best."
TAG_BEST_RUN = "dropout_lab.best_run_id"
TAG_BEST_TRIAL = "dropout_lab.best_trial"
WHERE_TAGS = frozenset({TAG_HOST, TAG_PID, TAG_PROC_START, TAG_HEARTBEAT})
PARENT_TAG = "mlflow.parentRunId"
# MLflow's UI reads this experiment tag to choose the page an experiment opens on (its JS enum
# ExperimentKind); untagged, MLflow 3.17 opens the GenAI overview (traces) instead of the runs.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
FINISHED, FAILED, KILLED, RUNNING = "FINISHED", "FAILED", "KILLED", "RUNNING"


def tag_is(key: str, value: str) -> str:
    """An MLflow search condition: tag `key` equals `value`."""
    return f"tags.`{key}` = '{value}'"


def git_tags(root: os.PathLike[str] | str = PROJECT_ROOT) -> dict[str, str]:
    """The commit the code came from and whether the tree had uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {TAG_COMMIT: "unknown"}
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {TAG_COMMIT: commit, TAG_DIRTY: str(dirty).lower()}
