"""Hand a sweep's environment to Ray workers, which do not inherit it (joblib's and submitit's jobs do).

At multirun start, after the parent run exists and before Hydra creates the launcher, the hand-over
variables go into the Ray launcher's `runtime_env.env_vars`. Credentials do not: Ray shows a job's
runtime_env on its dashboard; give the cluster's nodes their own (~/.mlflow/credentials).
Ray prints its workers' lines here, collapsing those that differ only in numbers ("[repeated 3x
across cluster]"): the jobs' labelled lines (`[rate=0.5 seed=2] epoch 3 ...`) differ just there, so
Ray is told to keep them all.
"""

from __future__ import annotations

import os
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from pipeline.data.fetch import MIRROR_ENV
from pipeline.process.launch import PARENT_RUN_ENV, SWEEP_ID_ENV, SWEPT_KEYS_ENV

FORWARDED = (
    PARENT_RUN_ENV,
    SWEEP_ID_ENV,
    SWEPT_KEYS_ENV,
    "MLFLOW_TRACKING_URI",
    "DROPOUT_LAB_ROOT",
    MIRROR_ENV,
)


# Ray's own setting (read when the launcher first imports Ray): lines it never collapses. A job's
# lines are Hydra's `[time][logger][LEVEL] - ` and the job's label in brackets.
RAY_KEEP_LINES_ENV = "RAY_DEDUP_LOGS_ALLOW_REGEX"
LABELLED_LINE = r"\] - \[[^]]+\] "


def forwarded_environment() -> dict[str, str]:
    """The hand-over variables that are set in this process."""
    return {name: os.environ[name] for name in FORWARDED if os.environ.get(name)}


class ForwardEnvironmentToRay(Callback):
    """Must run after the MLflow sweep callback (it sets the parent id): list it after that one."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        launcher = config.hydra.launcher
        if "ray" not in launcher or "init" not in launcher.ray:
            return
        os.environ.setdefault(RAY_KEEP_LINES_ENV, LABELLED_LINE)  # a value of the user's own wins
        try:
            with read_write(config.hydra), open_dict(config.hydra):
                init = launcher.ray.init
                runtime_env = init.get("runtime_env") or {}
                init.runtime_env = OmegaConf.merge(runtime_env, {"env_vars": forwarded_environment()})
        except Exception as error:
            # Hydra only warns when a callback raises; jobs without their parent must not start.
            raise SystemExit(f"error: cannot hand the sweep's environment to Ray jobs: {error}") from error
