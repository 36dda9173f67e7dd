"""How this process was launched, decided once: a DVC stage, a Hydra run or multirun job, or an
MLflow Projects entry point; what differs per launcher reads the `Launch` that `detect` returns.
A job of a sweep or of the DVC matrix is labelled by its overrides (`rate=0.5 seed=2`), so its lines
say whose they are when jobs run side by side.

Whoever starts trainings side by side makes their parent run first and hands its id down in the
environment (a multirun's callback, `make run`, `mlflow run`); a lone `dvc repro` runs its stages one
after another, so its first training makes the parent and the next find it (`dvc_invocation`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

if TYPE_CHECKING:
    import psutil

# Handed by whoever starts trainings side by side (a multirun's callback, `make run`) to them.
PARENT_RUN_ENV = "DROPOUT_LAB_PARENT_RUN_ID"
SWEEP_ID_ENV = "DROPOUT_LAB_SWEEP_ID"
# ... and the keys the sweep varies (space-separated): a job's label is its overrides of them.
SWEPT_KEYS_ENV = "DROPOUT_LAB_SWEPT_KEYS"
# A label's short names for the keys sweeps vary most; any other override is shown whole.
SHORT_KEYS = {
    "model.dropout.rate": "rate",
    "model.dropout.input_rate": "input_rate",
    "model.dropout.impl": "impl",
    "train.seed": "seed",
    "train.epochs": "epochs",
    "train.learning_rate": "learning_rate",
    "data.train_size": "train_size",
    "search.worker": "worker",
}
# Set by `mlflow run` for the command of an entry point (mlflow.projects.utils.get_run_env_vars).
PROJECT_RUN_ENV = "MLFLOW_RUN_ID"
PROJECT_EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_ID"
# Set by DVC in `dvc exp run` (and its queue workers) for every stage command.
DVC_EXP_ENV = "DVC_EXP_NAME"
# ... and the commit the experiment starts from (every experiment of one queued grid shares it).
DVC_BASELINE_ENV = "DVC_EXP_BASELINE_REV"
# DVC stages compose no conf/: they run the Hydra app on params.yaml (DVC's own view of the config).
DVC_CONFIG_NAME = "params"


class Source(StrEnum):
    """The launcher, as recorded in every run's `dropout_lab.source` tag."""

    DVC = "dvc"
    HYDRA = "hydra"
    MULTIRUN = "hydra-multirun"
    PROJECT = "mlflow-project"


@dataclass(frozen=True)
class Launch:
    """The decision: where a run's files go and how its MLflow run relates to others."""

    source: Source
    # The run a training is a child of: a sweep's parent, or the MLflow Projects entry point's run.
    parent_run_id: str | None = None
    # An existing run a single training logs into (`mlflow run -e train` made it).
    own_run_id: str | None = None
    # The experiment MLflow Projects put the entry point's run in: every run of it goes there too.
    experiment_id: str | None = None
    sweep_id: str = ""
    # DVC: the name of the DVC experiment, if any.
    dvc_experiment: str | None = None
    # DVC: the experiment's baseline commit (None under `dvc repro`, which runs on HEAD).
    dvc_baseline: str | None = None
    # DVC: which `dvc` process runs this stage (see `dvc_invocation`), to group its trainings.
    dvc_invocation: str | None = None
    # Hydra's folder for this job (not used under DVC, whose paths dvc.yaml fixes).
    output_dir: Path | None = None
    # The command line's overrides (to say how to run it again).
    overrides: tuple[str, ...] = ()
    # Which job of a sweep or of the DVC matrix this is (`rate=0.5 seed=2`); empty for a lone run.
    label: str = ""

    @property
    def under_dvc(self) -> bool:
        return self.source is Source.DVC

    @property
    def line_prefix(self) -> str:
        """What this job's epoch lines and last lines start with: `[rate=0.5 seed=2] `, or nothing."""
        return f"[{self.label}] " if self.label else ""


def detect() -> Launch:
    """Decide from Hydra's config of this job and the environment; call inside a Hydra app."""
    hydra_cfg = HydraConfig.get()
    env = os.environ
    project_run = env.get(PROJECT_RUN_ENV) or None
    parent = env.get(PARENT_RUN_ENV) or None
    common: dict[str, Any] = {
        "experiment_id": (env.get(PROJECT_EXPERIMENT_ENV) or None) if project_run else None,
        "sweep_id": env.get(SWEEP_ID_ENV, ""),
        "overrides": tuple(hydra_cfg.overrides.task),
    }
    if hydra_cfg.job.config_name == DVC_CONFIG_NAME:  # the stage's overrides are its matrix item
        return Launch(
            Source.DVC, parent_run_id=parent or project_run, dvc_experiment=env.get(DVC_EXP_ENV) or None,
            dvc_baseline=env.get(DVC_BASELINE_ENV) or None, dvc_invocation=dvc_invocation(),
            label=job_label(common["overrides"]), **common,
        )  # fmt: skip
    common["output_dir"] = Path(hydra_cfg.runtime.output_dir)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        swept = env.get(SWEPT_KEYS_ENV)
        label = job_label(common["overrides"], None if swept is None else swept.split())
        return Launch(Source.MULTIRUN, parent_run_id=parent, label=label, **common)
    if project_run:
        return Launch(Source.PROJECT, own_run_id=project_run, **common)
    return Launch(Source.HYDRA, **common)


def job_label(overrides: Sequence[str], swept: Collection[str] | None = None) -> str:
    """A job's overrides of the `swept` keys (all of them when None), common keys by their short
    names: `model.dropout.rate=0.5 train.seed=2` -> `rate=0.5 seed=2`."""
    parts = []
    for override in overrides:
        key, sep, value = override.partition("=")
        name = key.lstrip("+~")
        if sep and (swept is None or name in swept):
            parts.append(f"{SHORT_KEYS.get(name, key)}={value}")
    return " ".join(parts)


def project_run() -> tuple[str, str | None] | None:
    """The run (and experiment) `mlflow run` made for this entry point, when there is one."""
    run_id = os.environ.get(PROJECT_RUN_ENV)
    return (run_id, os.environ.get(PROJECT_EXPERIMENT_ENV) or None) if run_id else None


def hand_to_jobs(parent_run_id: str, sweep_id: str, swept: Sequence[str] | None) -> None:
    """Tell a multirun's jobs (this process's children inherit the environment) their parent and
    the keys the sweep varies (None: unknown, each job is labelled by all its overrides)."""
    os.environ[PARENT_RUN_ENV] = parent_run_id
    os.environ[SWEEP_ID_ENV] = sweep_id
    if swept is None:
        os.environ.pop(SWEPT_KEYS_ENV, None)
    else:
        os.environ[SWEPT_KEYS_ENV] = " ".join(swept)


def dvc_invocation() -> str:
    """The identity of the `dvc` process that runs this stage: host, pid and start time since boot.

    One `dvc repro` or `dvc exp run` runs its stages one after another in child processes; they share
    this key, so its first training makes the MLflow parent run and later ones find it. Start time
    tells a reused pid apart; since boot, unlike the wall-clock start time, it stays the same when
    the system clock is set (a virtual machine's may be, between two stages). Without a `dvc`
    ancestor (a stage command run by hand) the key is this process's own.
    """
    import psutil

    process = psutil.Process()
    for ancestor in process.parents():
        if _is_dvc(ancestor):
            process = ancestor
            break
    started = process.create_time() - psutil.boot_time()
    return f"{socket.gethostname()}:{process.pid}:{started:.2f}"


def _is_dvc(process: psutil.Process) -> bool:
    import psutil

    try:
        cmdline = process.cmdline()
    except psutil.Error:
        return False
    words = [Path(word).name for word in cmdline[:3]]
    return "dvc" in words
