"""`make run`: `dvc repro` with the trainings of every rate and seed and their evaluations side by side.

    python -m pipeline.tools.repro [--force] [--jobs N] [--environment environment.json]

DVC lets several `dvc repro` processes work in one project at once (each locks only the paths it
reads and writes), and one matrix item's stages do not depend on another's. So this runs
`dvc repro preprocess`; then every `dvc repro -s train@<rate>-<seed>` and `evaluate@<rate>-<seed>`,
at most `--jobs` at once, trainings first and each evaluation once its training is done (so the
last trainings and the first evaluations share the cores); and a plain `dvc repro`, which runs what
is left and checks nothing is out of date.
The outputs and `dvc.lock` are those `dvc repro` makes. Every training is a child of one MLflow
parent run, which this process makes first and hands down (DROPOUT_LAB_PARENT_RUN_ID). A failed
stage stops the rest (exit 1); Ctrl-C or SIGTERM stops every stage (trainings end KILLED and resume
with the next `make run`).

`--environment FILE` records the environment that made the results (`pipeline.core.environment`)
when this run changed one of them (an output's hash in `dvc.lock`), or FILE does not exist yet: a
run that reproduced every result leaves the record of the environment that made them, and so
`git status`, as they were.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.core.atomic import write_text_atomic
from pipeline.core.config import load_settings
from pipeline.core.environment import as_json, describe
from pipeline.core.errors import UserError
from pipeline.core.paths import project_path
from pipeline.process import interrupts
from pipeline.process.exit import reported_as_exit
from pipeline.process.launch import PARENT_RUN_ENV
from pipeline.tools.server import stop_group
from pipeline.tracking import groups
from pipeline.tracking.heartbeat import ParentHeartbeat
from pipeline.tracking.reconcile import identity_tags
from pipeline.tracking.store import Store

DATA_TARGET = "preprocess"  # with `download`, which it depends on
DATA_STAGES = ("download", DATA_TARGET)
TRAIN, EVALUATE = "train@", "evaluate@"  # a matrix item's stages: its evaluation needs its training
# `dvc repro` holds the project's lock while it reads the pipeline; another one starting then
# fails at once with this message. Such a start is retried, never a stage that ran.
LOCK_BUSY = "Unable to acquire lock"
LOCK_RETRIES = 20
LOCK_RETRY_S = 1.5


@dataclass
class Stage:
    """One `dvc repro` child and the last lines it printed."""

    name: str
    argv: list[str]
    process: subprocess.Popen[str] | None = None
    tail: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def start(self, env: dict[str, str]) -> None:
        self.tail = []
        self.process = subprocess.Popen(
            self.argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True,  # its own group: stopping it stops the training it runs
        )  # fmt: skip
        self.reader = threading.Thread(target=self._relay, daemon=True)
        self.reader.start()

    def _relay(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.tail = [*self.tail[-20:], line]
            print(f"[{self.name}] {line}", end="", flush=True)

    def poll(self) -> int | None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None and self.reader is not None:
            self.reader.join()
        return code

    def lock_was_busy(self) -> bool:
        return any(LOCK_BUSY in line for line in self.tail)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_group(self.process.pid)


def dvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


def stage_names() -> list[str]:
    """Every stage of dvc.yaml, matrix items expanded (`train@0.5-42`), as DVC names them."""
    listed = subprocess.run(dvc("stage", "list", "--name-only"), capture_output=True, text=True)
    if listed.returncode:
        raise UserError(f"dvc stage list failed:\n{listed.stderr.strip()}")
    return listed.stdout.split()


def repro(name: str, force: bool) -> Stage:
    """`dvc repro -s <name>`: that stage alone, skipped when it is up to date (unless `force`)."""
    return Stage(name, dvc("repro", *(["-f"] if force else []), "-s", name))


def run_wave(
    stages: Sequence[Stage], jobs: int, env: dict[str, str], after: Mapping[str, str] | None = None
) -> None:
    """Run the stages' `dvc repro`s in order, at most `jobs` at once, each stage named in `after`
    only once the stage it names there has succeeded; a failure stops the others."""
    waiting, running, done = list(stages), list[Stage](), set[str]()
    needs = dict(after or {})
    retries = {stage.name: 0 for stage in stages}
    try:
        while waiting or running:
            ready = [stage for stage in waiting if needs.get(stage.name, "") in done | {""}]
            while ready and len(running) < jobs:
                stage = ready.pop(0)
                waiting.remove(stage)
                stage.start(env)
                running.append(stage)
                time.sleep(LOCK_RETRY_S)  # let it read the pipeline before the next one starts
            for stage in list(running):
                code = stage.poll()
                if code is None:
                    continue
                running.remove(stage)
                if code and stage.lock_was_busy() and retries[stage.name] < LOCK_RETRIES:
                    retries[stage.name] += 1
                    waiting.insert(0, stage)
                elif code:
                    raise UserError(f"{stage.name} failed (exit {code}); see its lines above")
                else:
                    done.add(stage.name)
            time.sleep(0.2)
    finally:
        for stage in running:
            stage.stop()


def run(force: bool, jobs: int) -> None:
    """The stages in waves, their trainings children of one MLflow parent run made here first."""
    settings = load_settings(yaml.safe_load(project_path("params.yaml").read_text()))
    tracking = settings.tracking
    store = Store.open(tracking)
    where = {**settings.tags, **identity_tags()}
    parent = groups.start_dvc_group(store, store.experiment_id(tracking.experiment), where)
    env = {**os.environ, PARENT_RUN_ENV: parent}
    with ParentHeartbeat(store, parent, tracking.stale_after_s):
        try:
            run_waves(force, jobs, env)
        except BaseException:
            groups.abandon_sweep(store, parent, interrupts.received())
            raise
    groups.close_dvc_group(store, parent)


def run_waves(force: bool, jobs: int, env: dict[str, str]) -> None:
    run_wave([Stage(DATA_TARGET, dvc("repro", DATA_TARGET))], jobs=1, env=env)
    names = [name for name in stage_names() if name not in DATA_STAGES]
    trainings = [name for name in names if name.startswith(TRAIN)]
    evaluations = [name for name in names if name.startswith(EVALUATE)]
    after = {name: TRAIN + name.removeprefix(EVALUATE) for name in evaluations}
    after = {name: training for name, training in after.items() if training in trainings}
    run_wave([repro(name, force) for name in trainings + evaluations], jobs, env, after)
    if force:
        rest = [name for name in names if not name.startswith((TRAIN, EVALUATE))]
        run_wave([repro(name, force) for name in rest], jobs, env)
    run_wave([Stage("dvc repro", dvc("repro"))], jobs=1, env=env)


def output_hashes(lock: Path) -> dict[str, str]:
    """Each output's hash in a `dvc.lock` (`<stage> <path>` -> md5); none before a first run."""
    if not lock.is_file():
        return {}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    return {
        f"{name} {out['path']}": str(out.get("md5"))
        for name, stage in stages.items()
        for out in stage.get("outs", [])
    }


def record_environment(target: Path, before: dict[str, str], after: dict[str, str]) -> bool:
    """Write this environment to `target` when a result changed (or `target` is missing); say if so."""
    if before == after and target.is_file():
        return False
    write_text_atomic(target, as_json(describe()))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="re-run trainings, evaluations, comparison")
    parser.add_argument("--jobs", type=int, default=2 * (os.cpu_count() or 1),
                        help="stages at once (default: twice the CPUs)")  # fmt: skip
    parser.add_argument("--environment", type=Path, metavar="FILE",
                        help="record the environment here when a result changed")  # fmt: skip
    args = parser.parse_args(argv)
    with reported_as_exit():
        if args.jobs < 1:
            raise UserError(f"--jobs must be at least 1, not {args.jobs}")
        before = output_hashes(Path("dvc.lock"))
        run(args.force, args.jobs)
        if args.environment and record_environment(args.environment, before, output_hashes(Path("dvc.lock"))):
            print(f"wrote {args.environment}: the environment that made these results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
