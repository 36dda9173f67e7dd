"""`dropout-lab`: one command for the user's verbs, each the module a `python -m` would run.

    dropout-lab train model.dropout.rate=0.2 train.epochs=10     # python -m pipeline.train ...
    dropout-lab sweep model.dropout.rate=0,0.2,0.5 train.seed=1,2  # python -m pipeline.train -m ...
    dropout-lab evaluate | report | tune hparams_search=dropout_optuna | repro | ui | server start
    dropout-lab runs reconcile
    dropout-lab --version

Thin on purpose: each subcommand replaces this process with its module (so signals, exit codes and
Hydra's command line are exactly the module's own), and everything after the verb goes to it.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version


@dataclass(frozen=True)
class Verb:
    module: str
    summary: str
    description: str
    prefix: tuple[str, ...] = ()


HYDRA_ARGS = (
    "Arguments are Hydra overrides of conf/ (key=value, e.g. train.epochs=10 experiment=quick); "
    "`python -m pipeline.train --help` lists the config groups and keys."
)

VERBS = {
    "train": Verb(
        "pipeline.train",
        "one training run (MLflow-tracked), evaluated inline",
        "Train one model with the composed conf/ config inside its own MLflow run, write its files to "
        "outputs/<date>/<time>/ and evaluate it in the same run. " + HYDRA_ARGS,
    ),
    "sweep": Verb(
        "pipeline.train",
        "a Hydra multirun: one MLflow parent run, a child per job",
        "Run a grid of trainings (comma-separated values sweep, e.g. model.dropout.rate=0,0.2,0.5 "
        "train.seed=1,2,3) as one MLflow parent run with a child run per job, then write the "
        "comparison report. Same as `python -m pipeline.train -m ...`. " + HYDRA_ARGS,
        prefix=("-m",),
    ),
    "evaluate": Verb(
        "pipeline.evaluate",
        "evaluate the newest interactive training again, into the MLflow run that trained it",
        "Evaluate a trained model on the test set (accuracy, NLL, ECE, per-class accuracy, MC dropout) "
        "and log the numbers into the MLflow run that trained it: the newest run under outputs/ or "
        "multirun/, or the folder in DROPOUT_LAB_RUN_DIR. " + HYDRA_ARGS,
    ),
    "report": Verb(
        "pipeline.report",
        "the dropout comparison (tables + plots) from MLflow runs or DVC outputs",
        "Build the dropout comparison (Markdown tables and learning-curve plots) from the latest sweep, "
        "or what report.source / report.parent_run_id choose. " + HYDRA_ARGS,
    ),
    "tune": Verb(
        "pipeline.tune",
        "a hyperparameter search (Optuna), trials as MLflow children of one parent",
        "Search the keys and ranges of a conf/hparams_search/ file with Optuna, minimising the "
        "validation loss; name it as hparams_search=<name> (e.g. hparams_search=dropout_optuna). "
        "The same command continues a stopped search. Same as `python -m pipeline.tune ...`. " + HYDRA_ARGS,
    ),
    "repro": Verb(
        "pipeline.tools.repro",
        "the DVC pipeline, the rates trained side by side (what `make run` runs)",
        "Run `dvc repro` with the trainings of the rates, then their evaluations, side by side: the "
        "outputs, dvc.lock and MLflow runs are those of `dvc repro`. Options: --force (re-run the "
        "trainings, evaluations and comparison), --jobs N (stages at once).",
    ),
    "ui": Verb(
        "pipeline.tools.ui",
        "the MLflow UI on the project's store; prints the runs page's URL",
        "Start the MLflow UI on the project's tracking store (tracking.uri, MLFLOW_TRACKING_URI) and "
        "print the URL of the experiment's runs page. Options: --port, --experiment.",
    ),
    "server": Verb(
        "pipeline.tools.server",
        "the team tracking server: PostgreSQL + mlflow server (start | stop | status)",
        "Start, stop or show the team tracking server: a PostgreSQL database and `mlflow server` on "
        "127.0.0.1. Arguments: start | stop | status, then --port, --pg-port, --host, --auth.",
    ),
    "runs": Verb(
        "pipeline.tracking.reconcile",
        "runs reconcile: end runs a crash left RUNNING as FAILED",
        "Maintenance of the MLflow runs. `runs reconcile` ends runs that a crash or a kill left "
        "RUNNING as FAILED, and lists them. Options: --tracking-uri, --stale-after-s.",
    ),
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="dropout-lab",
        description="dropout-lab: train, sweep and compare dropout rates (DVC + Hydra + MLflow). "
        "`dropout-lab repro` (or `dvc repro`) runs the whole pipeline; the other verbs run one part.",
    )
    top.add_argument("--version", action="version", version=f"dropout-lab {installed_version()}")
    sub = top.add_subparsers(dest="verb", required=True, metavar="command")
    for name, verb in VERBS.items():
        one = sub.add_parser(name, help=verb.summary, description=verb.description)
        one.add_argument("args", nargs=argparse.REMAINDER, help="passed on to the command")
    return top


def installed_version() -> str:
    """The version pip or uv installed (pyproject.toml's); a checkout run without installing has none."""
    try:
        return version("dropout-lab")
    except PackageNotFoundError:
        return "(not installed: run `make install`)"


def command(argv: list[str]) -> list[str]:
    """The `python -m ...` command line a `dropout-lab` command line stands for.

    Everything after the verb goes to its module as it is, options too (`ui --port 5001`, `repro
    --force`): argparse alone would take an option there for one of its own. The parser answers
    what is not a verb and its arguments: `--help`, `--version`, `<verb> --help`, an unknown verb."""
    if not argv or argv[0] not in VERBS or argv[1:2] in (["-h"], ["--help"]):
        parser().parse_args(argv)  # prints the help, the version or the error, and exits
    verb = VERBS[argv[0]]
    return [sys.executable, "-m", verb.module, *verb.prefix, *argv[1:]]


def main(argv: list[str] | None = None) -> None:
    line = command(sys.argv[1:] if argv is None else argv)
    sys.stdout.flush()
    os.execv(line[0], line)  # the module's process from here on: its signals, its exit status


if __name__ == "__main__":
    main()
