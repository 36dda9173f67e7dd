"""The preprocess stage: `python -m pipeline.preprocess` (Hydra app, DVC stage `preprocess`)."""

from __future__ import annotations

import logging

from pipeline.core.config import Settings
from pipeline.core.matrix import refuse_to_rewrite_dvc_outputs
from pipeline.core.paths import project_path
from pipeline.data.build import build_dataset, read_raw, summary, write_processed
from pipeline.process.launch import Launch
from pipeline.process.stage import stage

log = logging.getLogger(__name__)


@stage
def main(settings: Settings, launch: Launch) -> None:
    if not launch.under_dvc:
        refuse_to_rewrite_dvc_outputs("preprocess", settings, project_path(), trained_on=True)
    data_cfg = settings.data
    raw = read_raw(project_path("data", "raw", data_cfg.name), data_cfg.files)
    data = build_dataset(raw, data_cfg)
    target = write_processed(data, data_cfg, project_path("data", "processed"))
    counts = summary(data, data_cfg)["counts"]
    log.info("wrote %s: %s, fingerprint %s", target, counts, data.fingerprint)


if __name__ == "__main__":
    main()
