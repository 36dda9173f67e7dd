"""The tune stage: `python -m pipeline.tune hparams_search=dropout_optuna` (a Hydra app; docs/tuning.md).

An Optuna search of `conf/hparams_search/<name>.yaml`'s ranges (`pipeline.tuning.search`); the same
command continues a stopped one, and `-m ... search.worker=0,1` runs parallel workers on one study.
"""

from __future__ import annotations

from pipeline.core.config import Settings
from pipeline.core.paths import project_path
from pipeline.data.build import load_for
from pipeline.process.exit import exit_without_teardown
from pipeline.process.launch import Launch
from pipeline.process.stage import stage
from pipeline.tracking.reconcile import reconcile
from pipeline.tuning.search import search_here
from pipeline.tuning.space import check_space


@stage
def main(settings: Settings, launch: Launch) -> None:
    check_space(settings)  # before any data or TensorFlow
    data = load_for(settings.data, project_path())
    reconcile(settings.tracking)
    search_here(settings, data, launch)


if __name__ == "__main__":
    main()
    exit_without_teardown()
