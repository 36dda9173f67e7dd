"""Evaluate each training of a `conf/` run as its job ends, into the training's MLflow run.

`conf/config.yaml` lists this callback, so `python -m pipeline.train` (one run, a `-m` sweep on any
launcher, `mlflow run -e train` or `-e sweep`) evaluates every model it trains, in the job's own
process, before a sweep's report reads the runs. DVC stages run on `params.yaml`, which has no
Hydra callbacks: there the evaluate stage does it. Hydra makes its callbacks before a job starts:
what evaluation needs (plotting among it) is imported only when a job ends, after its epoch lines.
"""

from __future__ import annotations

from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from pipeline.core.layout import RunFiles
from pipeline.process.exit import exit_on_error


class EvaluateTrainings(Callback):
    """After a job whose body returned a training's files (the train stage's), evaluate them."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status is not JobStatus.COMPLETED or not isinstance(job_return.return_value, RunFiles):
            return
        with exit_on_error("evaluating the training"):
            from pipeline.core.config import load_settings
            from pipeline.core.paths import project_path
            from pipeline.data.build import load_for
            from pipeline.process import launch
            from pipeline.runs.tracked_evaluation import evaluate_tracked

            settings = load_settings(config)
            data = load_for(settings.data, project_path())
            files, prefix = job_return.return_value, launch.detect().line_prefix
            evaluate_tracked(settings, data, files, "python -m pipeline.train", line_prefix=prefix)
