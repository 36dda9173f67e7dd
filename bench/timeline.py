"""Where the time of one `python -m pipeline.train` goes: a timeline of one whole process.

    python -m bench.timeline [--rounds 1] [--cpus 0] [--epochs N] [--quick] [-- hydra overrides ...]

Runs the training stage in a fresh process (default config: 5 epochs, evaluation with MC dropout,
MLflow logging, model logged) on real MNIST in a temp project root and MLflow store, and stamps the
moments that split its wall time: when the big libraries finished importing, when `fit` starts, each
epoch's end, `fit`'s end, evaluation, model logging, the MLflow run's end, the return of `main`,
the last `atexit` handler, and (seen by this parent) the process's exit. The stamps come from hooks
installed before anything is imported: a module is patched the moment it is loaded, so the code runs
as it does under `python -m pipeline.train`. Peak RSS is the OS's (`wait4`). Nothing is asserted.
`--rounds` runs it that many times (medians per phase); `--quick`: one run of 1 epoch.
"""

from __future__ import annotations

import atexit
import functools
import importlib.abc
import importlib.util
import json
import runpy
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness.session import Session, benchmark
from bench.harness.tables import median, table
from bench.harness.workspace import REPO

# Top-level packages whose import is worth a line: time from the first import of the package to
# the end of its `__init__` (inclusive of what it imports; keras includes TensorFlow).
IMPORTS = ("hydra", "pydantic", "pandas", "tensorflow", "keras", "mlflow", "sqlalchemy", "matplotlib")
# module -> attributes to stamp (start and end of each call); `Class.method` patches a method.
CALLS: dict[str, tuple[str, ...]] = {
    "keras.src.backend.tensorflow.trainer": ("TensorFlowTrainer.fit",),
    "keras.src.callbacks.callback_list": ("CallbackList.on_epoch_end",),
    "pipeline.evaluation.scoring": ("evaluate_model", "write_evaluation"),
    "pipeline.training.outputs": ("write_outputs",),
    "pipeline.tracking.record": ("log_training", "log_keras_model", "log_evaluation"),
    "mlflow.tracking.fluent": ("end_run",),
    "pipeline.process.exit": ("exit_without_teardown",),
}


# --- child: hooks, then the real entry point ------------------------------------------------------


class Stamps:
    """Append-only (name, wall-clock time) list, written to a JSON file at the very end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marks: list[tuple[str, float]] = []
        self.memory: list[tuple[str, float]] = []  # (mark, RSS in MiB at that moment)

    def mark(self, name: str) -> None:
        self.marks.append((name, time.time()))
        self.memory.append((name, rss_mib()))

    def dump(self) -> None:
        self.mark("last atexit handler")
        self.path.write_text(json.dumps({"marks": self.marks, "memory": self.memory}))


def rss_mib() -> float:
    """This process's resident memory now (Linux /proc), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stamped(fn: Any, name: str, stamps: Stamps) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stamps.mark(f"{name} start")
        try:
            return fn(*args, **kwargs)
        finally:
            stamps.mark(f"{name} end")

    return wrapper


class PostImportHooks(importlib.abc.MetaPathFinder):
    """Stamp imports of IMPORTS and patch CALLS as soon as their module has executed."""

    def __init__(self, stamps: Stamps) -> None:
        self.stamps = stamps
        self.busy: set[str] = set()

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        top = name.partition(".")[0]
        watched = name in CALLS or (name == top and top in IMPORTS)
        if not watched or name in self.busy:
            return None
        self.busy.add(name)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.busy.discard(name)
        if spec is None or spec.loader is None:
            return spec
        started = time.time()
        execute = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            if name in IMPORTS:
                self.stamps.marks.append((f"import {name} start", started))
                self.stamps.mark(f"import {name} end")
            for attr in CALLS.get(name, ()):
                self.patch(module, attr)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec

    def patch(self, module: Any, attr: str) -> None:
        owner_name, _, method = attr.rpartition(".")
        owner = getattr(module, owner_name) if owner_name else module
        if hasattr(owner, method or attr):
            key = method or attr
            setattr(owner, key, stamped(getattr(owner, key), key, self.stamps))


def child(stamps_file: str, overrides: list[str]) -> None:
    """Run `python -m pipeline.train <overrides>` in this process, with stamps."""
    stamps = Stamps(Path(stamps_file))
    atexit.register(stamps.dump)  # registered first, so it runs last
    sys.meta_path.insert(0, PostImportHooks(stamps))
    sys.argv = [str(REPO / "pipeline" / "train.py"), *overrides]
    try:
        runpy.run_module("pipeline.train", run_name="__main__", alter_sys=True)
    finally:
        stamps.mark("main returned")


# --- parent: run, read the stamps, print the phases -----------------------------------------------


def run_once(bench: Session, overrides: list[str], index: int) -> dict[str, Any]:
    """One whole training process; its stamps relative to its spawn, its exit and peak RSS."""
    ws = bench.workspace
    stamp_file = ws.root / f"stamps-{index}.json"
    run = bench.child({"stamps_file": str(stamp_file), "overrides": [*ws.overrides, *overrides]})
    stamps = json.loads(stamp_file.read_text())
    marks = [(name, at - run["started"]) for name, at in stamps["marks"]]
    memory = [(name, mib) for name, mib in stamps["memory"]]
    return {"marks": marks, "memory": memory, "exit": run["wall"], "peak_mib": run["peak_mib"]}


def first(marks: list[tuple[str, float]], name: str) -> float | None:
    return next((at for mark, at in marks if mark == name), None)


def last(marks: list[tuple[str, float]], name: str) -> float | None:
    return next((at for mark, at in reversed(marks) if mark == name), None)


def spans(marks: list[tuple[str, float]], name: str) -> float:
    """Total seconds inside calls of `name` (outermost calls only)."""
    total, depth, opened = 0.0, 0, 0.0
    for mark, at in marks:
        if mark == f"{name} start":
            depth += 1
            if depth == 1:
                opened = at
        elif mark == f"{name} end" and depth:
            depth -= 1
            if depth == 0:
                total += at - opened
    return total


def phases(run: dict[str, Any]) -> dict[str, float]:
    """Start-up, first epoch, training, evaluation, logging/saving, exit: they add up to the wall."""
    marks = run["marks"]
    fit_start, fit_end = first(marks, "fit start"), last(marks, "fit end")
    epoch1 = first(marks, "on_epoch_end end")
    returned = first(marks, "exit_without_teardown start") or last(marks, "main returned")
    assert fit_start is not None and fit_end is not None and epoch1 is not None and returned is not None
    evaluation = spans(marks, "evaluate_model")
    after_fit = returned - fit_end
    return {
        "start-up (to fit)": fit_start,
        "first epoch (tracing)": epoch1 - fit_start,
        "epochs 2..n": fit_end - epoch1,
        "evaluation": evaluation,
        "logging and saving": after_fit - evaluation,
        "  of which log_keras_model": spans(marks, "log_keras_model"),
        "  of which end_run": spans(marks, "end_run"),
        "exit (main returned to exit)": run["exit"] - returned,
        "whole process": run["exit"],
    }


def import_lines(run: dict[str, Any]) -> list[list[str]]:
    marks = run["marks"]
    rows = []
    for name in IMPORTS:
        start, end = first(marks, f"import {name} start"), first(marks, f"import {name} end")
        if start is not None and end is not None:
            rows.append([f"import {name}", f"{start:.2f}", f"{end - start:.2f}"])
    return rows


def memory_lines(run: dict[str, Any]) -> list[list[str]]:
    seen: dict[str, list[float]] = {}
    for name, mib in run["memory"]:
        seen.setdefault(name, []).append(mib)
    return [[name, f"{v[0]:.0f}", f"{v[-1]:.0f}"] for name, v in seen.items()]


@benchmark(
    __doc__,
    child=child,
    cpus="0",
    quick={"epochs": 1},
    flags={"overrides": {"nargs": "*", "help": "Hydra overrides for pipeline.train"}},
)
def main(bench: Session) -> None:
    args = bench.args
    overrides = [*([f"train.epochs={args.epochs}"] if args.epochs else []), *args.overrides]
    print(f"data: {bench.workspace.source}")
    runs = [run_once(bench, overrides, i) for i in range(args.rounds)]
    all_phases = [phases(run) for run in runs]
    rows = [
        [name, *(f"{p[name]:.2f}" for p in all_phases), f"{median([p[name] for p in all_phases]):.2f}"]
        for name in all_phases[0]
    ]
    header = ["phase (seconds)", *(f"run {i + 1}" for i in range(len(runs))), "median"]
    print(table(rows, header))
    print("\nimports in run 1 (inclusive; keras includes TensorFlow):")
    print(table(import_lines(runs[0]), ["import", "done at s", "took s"]))
    print("\nRSS of run 1 at the first and last of each mark (MiB):")
    print(table(memory_lines(runs[0]), ["mark", "first", "last"]))
    peaks = ", ".join(f"{run['peak_mib']:.0f}" for run in runs)
    print(f"\npeak RSS (MiB, from wait4): {peaks}")


if __name__ == "__main__":
    main()
