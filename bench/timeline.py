"""Where the time of one `python -m pipeline.train` goes: a timeline of one whole process.

    python -m bench.timeline [--rounds 1] [--cpus 0] [--epochs N] [--quick] [--against DIR]
                             [-- hydra overrides ...]

Runs the training stage in a fresh process (default config, evaluation with MC dropout, MLflow
logging, model logged) on real MNIST in a temp project root and MLflow store, and stamps the
moments that split its wall time: when the big libraries finished importing, when `fit` starts, each
epoch line, `fit`'s end, evaluation, model logging, the MLflow run's end, the return of `main`,
the last `atexit` handler, and (seen by this parent) the process's exit. The stamps come from hooks
installed before anything is imported: a module is patched the moment it is loaded, so the code runs
as it does under `python -m pipeline.train`. Peak RSS is the OS's (`wait4`). Nothing is asserted.
`--rounds` runs it that many times (medians per phase); `--quick`: one run of 1 epoch.
`--against DIR`: the same process of another checkout (`git worktree add DIR <commit>`) alternated
with this one's, round by round, and the ratio of their times to the first epoch line and to exit.
"""

from __future__ import annotations

import atexit
import functools
import importlib.abc
import importlib.util
import json
import runpy
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness.session import Session, benchmark
from bench.harness.tables import Column, each, median, median_of, ratio_table, table
from bench.harness.workspace import REPO, Workspace

# Top-level packages whose import is worth a line: time from the first import of the package to
# the end of its `__init__` (inclusive of what it imports; keras includes TensorFlow).
# The functions that print an epoch's line (logged, or printed where logging has no handler).
EPOCH_LINES = ("log_epoch_line", "print_epoch_line")
IMPORTS = ("hydra", "pydantic", "pandas", "tensorflow", "keras", "mlflow", "sqlalchemy", "matplotlib")
# module -> attributes to stamp (start and end of each call); `Class.method` patches a method.
CALLS: dict[str, tuple[str, ...]] = {
    "pipeline.training.loop": ("fit", *EPOCH_LINES),
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


def run_once(bench: Session, overrides: list[str], name: str, checkout: Path) -> dict[str, Any]:
    """One whole training process of `checkout`'s pipeline; its stamps relative to its spawn, its
    time to the first epoch line and to exit, and its peak RSS."""
    ws = bench.workspace
    stamp_file = ws.root / f"stamps-{name}.json"
    env = {**ws.env(), "PYTHONPATH": python_path(ws, checkout)}
    run = bench.child({"stamps_file": str(stamp_file), "overrides": [*ws.overrides, *overrides]}, env)
    stamps = json.loads(stamp_file.read_text())
    marks = [(mark, at - run["started"]) for mark, at in stamps["marks"]]
    lines = [at for line in EPOCH_LINES if (at := first(marks, f"{line} end")) is not None]
    memory = [(mark, mib) for mark, mib in stamps["memory"]]
    first_line = min(lines) if lines else float("nan")
    return {"marks": marks, "memory": memory, "wall": run["wall"], "first_line": first_line,
            "peak_mib": run["peak_mib"]}  # fmt: skip


def python_path(ws: Workspace, checkout: Path) -> str:
    """This benchmark's stamps around `checkout`'s pipeline: a folder holding only `bench` (a link
    to this one) comes first, so `pipeline` and `conf/` are the checkout's."""
    if checkout == REPO:
        return str(REPO)
    shim = ws.root / "bench-only"
    if not shim.exists():
        shim.mkdir()
        (shim / "bench").symlink_to(REPO / "bench")
    return f"{shim}:{checkout}"


def describe(checkout: Path) -> str:
    """A checkout by its commit (and whether its work tree has changes)."""
    git = ["git", "-C", str(checkout)]
    head = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    )
    return f"{checkout.name} at {head or 'no commit'}{' + changes' if dirty.stdout.strip() else ''}"


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
    epoch1 = run["first_line"]
    returned = first(marks, "exit_without_teardown start") or last(marks, "main returned")
    assert fit_start is not None and fit_end is not None and epoch1 is not None and returned is not None
    evaluation = spans(marks, "evaluate_model")
    after_fit = returned - fit_end
    return {
        "start-up (to fit)": fit_start,
        "first epoch, to its line (tracing)": epoch1 - fit_start,
        "epochs 2..n": fit_end - epoch1,
        "evaluation": evaluation,
        "logging and saving": after_fit - evaluation,
        "  of which log_keras_model": spans(marks, "log_keras_model"),
        "  of which end_run": spans(marks, "end_run"),
        "exit (main returned to exit)": run["wall"] - returned,
        "whole process": run["wall"],
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


COLUMNS = [
    Column("first epoch line s", median_of("first_line"), fmt=".2f"),
    Column("whole process s", median_of("wall"), fmt=".2f"),
    Column("runs (first line)", each("first_line", ".2f"), fmt=""),
]


def measure(bench: Session, overrides: list[str], checkout: Path, index: int) -> Any:
    """What `alternate` calls for the `index`th checkout: its run of round `r`."""
    return lambda r: run_once(bench, overrides, f"{index}-{r}", checkout)


def brief(run: dict[str, Any]) -> str:
    return f"first epoch line at {run['first_line']:.2f} s, exit at {run['wall']:.2f} s"


def print_phases(runs: list[dict[str, Any]]) -> None:
    all_phases = [phases(run) for run in runs]
    rows = [
        [name, *(f"{p[name]:.2f}" for p in all_phases), f"{median([p[name] for p in all_phases]):.2f}"]
        for name in all_phases[0]
    ]
    header = ["phase (seconds)", *(f"run {i + 1}" for i in range(len(runs))), "median"]
    print(table(rows, header))


@benchmark(
    __doc__,
    child=child,
    cpus="0",
    quick={"epochs": 1},
    flags={
        "--against": {"type": Path, "help": "another checkout to run alternately with this one"},
        "overrides": {"nargs": "*", "help": "Hydra overrides for pipeline.train"},
    },
)
def main(bench: Session) -> None:
    args = bench.args
    overrides = [*([f"train.epochs={args.epochs}"] if args.epochs else []), *args.overrides]
    checkouts = {describe(REPO): REPO}
    if args.against:
        checkouts[describe(args.against.resolve())] = args.against.resolve()
    print(f"data: {bench.workspace.source}; overrides: {' '.join(overrides) or 'none'}")
    contenders = {
        label: measure(bench, overrides, checkout, i) for i, (label, checkout) in enumerate(checkouts.items())
    }
    results = bench.alternate(contenders, describe=brief)
    for label, runs in results.items():
        print(f"\n{label}:")
        print_phases(runs)
    labels = list(results)
    print()
    print(ratio_table(results, COLUMNS, [(labels[0], labels[1])] if args.against else [], first="checkout"))
    runs = results[labels[0]]
    # The run with the median time to the first epoch line: a burst of load elsewhere skews one run.
    typical = sorted(range(len(runs)), key=lambda i: runs[i]["first_line"])[len(runs) // 2]
    print(f"\nimports in run {typical + 1} of {labels[0]} (inclusive; keras includes TensorFlow):")
    print(table(import_lines(runs[typical]), ["import", "started at s", "took s"]))
    print(f"\nRSS of run {typical + 1} of {labels[0]} at the first and last of each mark (MiB):")
    print(table(memory_lines(runs[typical]), ["mark", "first", "last"]))
    peaks = ", ".join(f"{run['peak_mib']:.0f}" for run in runs)
    print(f"\npeak RSS (MiB, from wait4): {peaks}")


if __name__ == "__main__":
    main()
