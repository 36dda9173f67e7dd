"""The Optuna side of a search: the study in its storage, sampler and pruner from the config,
the trials that count, the per-epoch report that prunes, and the study's plots.

A study is found by its name (`search.study`) in its storage, so the same command continues a
stopped search. Trials of a process that died (SIGKILL, a lost host) stop beating in the storage
and are failed by the next session (Optuna's heartbeat); a trial stopped by Ctrl-C or SIGTERM is
failed at once. Failed trials are never counted: `n_trials` counts finished and pruned ones.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from pipeline.core.config import SearchConfig
from pipeline.tracking.connect import store_lock
from pipeline.training.loop import EpochHook, StopTraining

log = logging.getLogger(__name__)

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)
PARENT_ATTR = "mlflow_parent_run_id"  # the study remembers its MLflow parent run
RUN_ATTR = "mlflow_run_id"  # each trial its MLflow run
SQLITE_TIMEOUT_S = 60  # parallel workers on one SQLite file wait for each other's writes

# Optuna warns that the trial heartbeat (and failing stale trials by it) is experimental, in every
# search and worker; the search relies on it knowingly (docs/tuning.md, "Stopping and continuing").
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def storage(url: str, search: SearchConfig) -> optuna.storages.RDBStorage:
    """The study's database, with a heartbeat per running trial (stale after two missed beats)."""
    kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite") else {}
    with store_lock(url):  # one process at a time creates a new SQLite file's tables
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=kwargs,
            heartbeat_interval=search.heartbeat_s,
            grace_period=2 * search.heartbeat_s,
        )


def sampler(search: SearchConfig) -> optuna.samplers.BaseSampler:
    """TPE, seeded apart per worker (parallel workers with one seed would draw the same points)."""
    seed = None if search.sampler_seed is None else search.sampler_seed + search.worker
    return optuna.samplers.TPESampler(seed=seed)


def pruner(search: SearchConfig) -> optuna.pruners.BasePruner:
    p = search.pruner
    if p.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p.n_startup_trials, n_warmup_steps=p.n_warmup_steps
        )
    if p.name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=p.min_resource, reduction_factor=p.reduction_factor
        )
    return optuna.pruners.NopPruner()


def open_study(search: SearchConfig, url: str) -> optuna.Study:
    """Create the study, or load it when it exists (a resumed search, another worker); fail the
    trials a dead process left RUNNING; enqueue the config's first points once per study."""
    rdb = storage(url, search)
    with store_lock(url):
        study = optuna.create_study(
            storage=rdb,
            study_name=search.study,
            direction="minimize",
            sampler=sampler(search),
            pruner=pruner(search),
            load_if_exists=True,
        )
        optuna.storages.fail_stale_trials(study)
        for point in search.enqueue:
            study.enqueue_trial(dict(point), skip_if_exists=True)
    return study


def counted(study: optuna.Study) -> int:
    """Trials that count towards `n_trials`: finished or pruned, by any session or worker."""
    return len(study.get_trials(deepcopy=False, states=COUNTED))


def states(study: optuna.Study) -> dict[str, int]:
    """How many trials ended each way (`n_complete`, `n_pruned`, `n_fail`, `n_running`...)."""
    out: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        key = f"n_{trial.state.name.lower()}"
        out[key] = out.get(key, 0) + 1
    return out


def pruning_reporter(trial: optuna.Trial, metric: str = "val_loss") -> EpochHook:
    """An epoch hook: report the epoch's validation loss; stop the training when the pruner says so
    (its run ends as a finished one; the search then reports the trial pruned)."""

    def report(row: dict[str, float], seconds: float) -> None:
        epoch = int(row["epoch"])
        trial.report(float(row[metric]), step=epoch)
        if trial.should_prune():
            raise StopTraining(f"pruned after epoch {epoch} ({metric} {row[metric]:.4f})")

    return report


def optimize(study: optuna.Study, objective: Callable[[optuna.Trial], float], n_trials: int) -> None:
    """Run trials until the study counts `n_trials` (this worker's and every other's)."""
    remaining = n_trials - counted(study)
    if remaining <= 0:
        log.info("study %s already has %d counted trials: nothing to run", study.study_name, n_trials)
        return
    stop = optuna.study.MaxTrialsCallback(n_trials, states=COUNTED)
    study.optimize(objective, n_trials=remaining, callbacks=[stop])


def write_plots(study: optuna.Study, folder: Path) -> list[Path]:
    """Optimisation history, parameter importances and the trials' validation curves (pruned ones
    stop early) as PNGs, and every trial as `trials.csv`; a plot the study cannot have yet (one
    finished trial has no importances) is left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    study.trials_dataframe().to_csv(folder / "trials.csv", index=False)
    written.append(folder / "trials.csv")
    for name, plot in (
        ("optimization_history", plots.plot_optimization_history),
        ("param_importances", plots.plot_param_importances),
        ("intermediate_values", plots.plot_intermediate_values),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                axes: Any = plot(study)  # an Axes, or an array of them (one per parameter)
        except (ValueError, RuntimeError) as exc:
            log.info("no %s plot: %s", name, exc)
            continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        figure.savefig(folder / f"{name}.png", dpi=100)
        plt.close(figure)
        written.append(folder / f"{name}.png")
    return written
