"""Hydra makes the callbacks `conf/config.yaml` lists before any job runs, in the sweep's own process
and in every job: what their modules import at once comes before a training's first epoch line, so
evaluation, TensorFlow and MLflow wait until a callback needs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from pipeline.core.paths import CONF_DIR

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "pipeline.evaluation.scoring",
    "pipeline.evaluation.plots",
    "matplotlib",
    "tensorflow",
    "keras",
    "mlflow",
)


def test_the_configs_callbacks_import_no_evaluation_tensorflow_or_mlflow():
    callbacks = OmegaConf.load(CONF_DIR / "config.yaml").hydra.callbacks
    modules = sorted({str(c._target_).rpartition(".")[0] for c in callbacks.values()})
    assert "pipeline.launchers.job_evaluation" in modules
    probe = (
        f"import sys\nimport {', '.join(modules)}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
