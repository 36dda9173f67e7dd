"""The download stage: `python -m pipeline.download` (Hydra app, DVC stage `download`)."""

from __future__ import annotations

import os
import sys

from pipeline.core.config import MIRROR_ENV, Settings, project_path, refuse_to_rewrite_dvc_outputs
from pipeline.core.launch import Launch
from pipeline.core.stage import stage
from pipeline.data.download import download_all, resolve_sources


@stage
def main(settings: Settings, launch: Launch) -> None:
    if not launch.under_dvc:
        refuse_to_rewrite_dvc_outputs("download", settings, project_path())
    sources = resolve_sources(settings.data.mirrors, os.environ.get(MIRROR_ENV))
    folder = project_path("data", "raw", settings.data.name)
    download_all(settings.data.files, sources, folder, progress=sys.stderr.isatty())


if __name__ == "__main__":
    main()
