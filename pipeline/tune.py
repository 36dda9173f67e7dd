"""The tune stage: `python -m pipeline.tune hparams_search=dropout_optuna` (a Hydra app).

Searches the keys and ranges of `conf/hparams_search/<name>.yaml` with Optuna, minimising the
validation loss; every trial is an MLflow child of the search's parent run, which ends with the
best values and the search's plots. A search stopped by Ctrl-C or SIGTERM continues with the same
command. Parallel: `python -m pipeline.tune -m hparams_search=dropout_optuna search.worker=0,1`
runs identical workers on one study (joblib here, `hydra/launcher=ray` on a cluster); the
multirun's callback opens the search and hands its parent run to them. See docs/tuning.md.
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
