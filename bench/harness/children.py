"""Whole commands timed as a user waits for them (wall time, peak RSS), the one result line a child
prints, and contenders alternated in one run.

Speed is compared side by side in one run: each round runs every contender once, in the same order
(`alternate`), so a change in the machine's load falls on all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from bench.seed_loop import RESULT_PREFIX, emit

Result = dict[str, Any]


def taskset(cpus: str | None) -> list[str]:
    """The command prefix that pins a child to `cpus` ('' or None: no pinning)."""
    return ["taskset", "-c", cpus] if cpus else []


def run_child(argv: Sequence[Any], env: Mapping[str, str], cwd: Path, cpus: str | None = None) -> Result:
    """Run a command to its end, pinned to `cpus`; return its result line (see `emit`) with its wall time
    (`wall`, spawn to exit), the wall-clock time it was spawned at (`started`) and its peak RSS in MiB
    as the OS accounts it (`peak_mib`: `wait4`, as `/usr/bin/time -v` reports it; the largest of the
    process and the children it waited for). Output goes to files, not pipes (a lingering grandchild
    holding a pipe would hang the read); a failure raises with the tail of its output."""
    argv = [*taskset(cpus), *map(str, argv)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started, start = time.time(), time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        tail = "\n".join((stderr or stdout).splitlines()[-30:])
        raise RuntimeError(f"child {' '.join(argv)} failed (exit {proc.returncode}):\n{tail}")
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    result = json.loads(lines[-1][len(RESULT_PREFIX) :]) if lines else {}
    return {**result, "wall": wall, "started": started, "peak_mib": usage.ru_maxrss / 1024}


def serve(child: Callable[..., Result | None], spec: str) -> NoReturn:
    """The child side of a benchmark (`--child <spec>`): call `child` with the JSON `spec`'s keys,
    print its result line, and end as the stages end, without the interpreter's teardown (seconds of
    clearing TensorFlow that no user waits for)."""
    result = child(**json.loads(spec))
    if result is not None:
        emit(result)
    from pipeline.process.exit import exit_without_teardown

    exit_without_teardown()


def brief(result: Result) -> str:
    """A progress line's account of one measurement."""
    return f"{result['wall']:.1f} s, peak {result['peak_mib']:.0f} MiB"


def alternate(
    contenders: Mapping[str, Callable[[Any], Result]],
    rounds: Iterable[Any],
    describe: Callable[[Result], str] = brief,
    label: str = "round",
) -> dict[str, list[Result]]:
    """Every round, each contender once, in order (a, b, a, b, ...): side by side in one run, so a
    change in the machine's load falls on all alike. `contenders[name](round)` runs one and returns
    its measurement; a progress line is printed after each. Returns each contender's, round by round."""
    results: dict[str, list[Result]] = {name: [] for name in contenders}
    for round_ in rounds:
        for name, measure in contenders.items():
            results[name].append(measure(round_))
            print(f"  {label} {round_} {name}: {describe(results[name][-1])}", flush=True)
    return results
