"""The one `main` every entry point shares: `main = stage(body)`.

Hydra composes the config (`conf/`, or `params.yaml` under DVC), `load_settings` validates it before
any heavy import, `launch.detect` says how the process started, a `UserError` becomes one line and a
non-zero exit; what the body returns goes to Hydra's job-end callbacks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from pipeline.core.atomic import check_writable
from pipeline.core.config import Settings, load_settings
from pipeline.core.paths import CONF_DIR, project_path
from pipeline.process import launch
from pipeline.process.exit import reported_as_exit

StageBody = Callable[[Settings, launch.Launch], object]


def stage(body: StageBody) -> Callable[[], None]:
    """Turn `body(settings, launch)` into a Hydra app over `conf/` (job named after body's module)."""

    @functools.wraps(body)  # Hydra names the job (and its log file) after the wrapped function's module
    def task(cfg: DictConfig) -> object:
        with reported_as_exit():
            settings = load_settings(cfg)
            return body(settings, launch.detect())

    app = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(task)

    @functools.wraps(app)
    def entry() -> None:
        # Before Hydra: it writes its run folder first, and a multirun's own process (which runs
        # no task) must end a cancelled sweep with one line and 143/129/130 too.
        with reported_as_exit():
            check_writable(project_path())
            app()

    return entry
