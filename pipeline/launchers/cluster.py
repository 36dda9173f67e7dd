"""Hand a sweep's environment to Ray workers, which do not inherit it (joblib's and submitit's jobs do).

At multirun start, after the parent run exists and before Hydra creates the launcher, the hand-over
variables go into the Ray launcher's `runtime_env.env_vars`. Credentials do not: Ray shows a job's
runtime_env on its dashboard; give the cluster's nodes their own (~/.mlflow/credentials).
"""

from __future__ import annotations

import os
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from pipeline.data.fetch import MIRROR_ENV
from pipeline.process.launch import PARENT_RUN_ENV, SWEEP_ID_ENV

FORWARDED = (PARENT_RUN_ENV, SWEEP_ID_ENV, "MLFLOW_TRACKING_URI", "DROPOUT_LAB_ROOT", MIRROR_ENV)


def forwarded_environment() -> dict[str, str]:
    """The hand-over variables that are set in this process."""
    return {name: os.environ[name] for name in FORWARDED if os.environ.get(name)}


class ForwardEnvironmentToRay(Callback):
    """Must run after the MLflow sweep callback (it sets the parent id): list it after that one."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        launcher = config.hydra.launcher
        if "ray" not in launcher or "init" not in launcher.ray:
            return
        try:
            with read_write(config.hydra), open_dict(config.hydra):
                init = launcher.ray.init
                runtime_env = init.get("runtime_env") or {}
                init.runtime_env = OmegaConf.merge(runtime_env, {"env_vars": forwarded_environment()})
        except Exception as error:
            # Hydra only warns when a callback raises; jobs without their parent must not start.
            raise SystemExit(f"error: cannot hand the sweep's environment to Ray jobs: {error}") from error
