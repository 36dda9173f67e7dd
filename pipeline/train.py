"""The train stage: `python -m pipeline.train` (Hydra app; `-m` sweeps; DVC's `train` matrix).

Loads the data the config asks for and trains inside an MLflow run (`pipeline.runs.tracked_training`),
writing the run's files: under DVC the matrix paths of dvc.yaml, else the Hydra run folder. Under DVC
the evaluate stage evaluates the model; runs on `conf/` are evaluated as each job ends, by a Hydra
callback of `conf/config.yaml` (`pipeline.launchers.job_evaluation`). TensorFlow is imported only
after the config has been validated.
"""

from __future__ import annotations

from pipeline.core.config import Settings
from pipeline.core.layout import RunFiles, dvc_files, run_dir_files
from pipeline.core.paths import project_path
from pipeline.data.build import load_for
from pipeline.process.exit import exit_without_teardown
from pipeline.process.launch import Launch
from pipeline.process.stage import stage
from pipeline.runs.tracked_training import train_tracked
from pipeline.tracking.reconcile import reconcile


def run_files(settings: Settings, launch: Launch) -> RunFiles:
    """DVC stages write the fixed paths of dvc.yaml; other runs their Hydra output folder."""
    if launch.under_dvc:
        return dvc_files(settings)
    assert launch.output_dir is not None
    return run_dir_files(launch.output_dir)


@stage
def main(settings: Settings, launch: Launch) -> RunFiles:
    files = run_files(settings, launch)
    data = load_for(settings.data, project_path())
    reconcile(settings.tracking)  # runs a crash left RUNNING end FAILED before this one starts
    train_tracked(settings, data, launch, files)
    return files  # what the job-end callback evaluates


if __name__ == "__main__":
    main()
    exit_without_teardown()  # TensorFlow's interpreter teardown outputs nothing and takes seconds
