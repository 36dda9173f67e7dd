"""The download stage: `python -m pipeline.download` (Hydra app, DVC stage `download`)."""

from __future__ import annotations

import sys

from pipeline.core.config import Settings
from pipeline.core.matrix import refuse_to_rewrite_dvc_outputs
from pipeline.core.paths import project_path
from pipeline.data.fetch import download_dataset
from pipeline.process.launch import Launch
from pipeline.process.stage import stage


@stage
def main(settings: Settings, launch: Launch) -> None:
    if not launch.under_dvc:
        refuse_to_rewrite_dvc_outputs("download", settings, project_path())
    download_dataset(
        settings.data, project_path("data", "raw", settings.data.name), progress=sys.stderr.isatty()
    )


if __name__ == "__main__":
    main()
