"""The download stage: `python -m pipeline.download` (Hydra app, DVC stage `download`)."""

from __future__ import annotations

import os
import sys

from pipeline.core.config import Settings
from pipeline.core.paths import project_path
from pipeline.data.fetch import MIRROR_ENV, download_all, resolve_sources
from pipeline.process.launch import Launch
from pipeline.process.stage import stage


@stage
def main(settings: Settings, launch: Launch) -> None:
    sources = resolve_sources(settings.data.mirrors, os.environ.get(MIRROR_ENV))
    folder = project_path("data", "raw", settings.data.name)
    download_all(settings.data.files, sources, folder, progress=sys.stderr.isatty())


if __name__ == "__main__":
    main()
