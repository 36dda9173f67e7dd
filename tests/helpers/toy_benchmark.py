"""A benchmark on the shared harness that times trivial commands: `tests/project/test_bench.py` runs
it whole, as a user runs a real one, to check the harness's opening, children and closing.

    python -m tests.helpers.toy_benchmark [--rounds 2] [--cpus 0] [--sleep 0.2]

Alternates a bare `python -c pass` with the benchmark's own child, which sleeps `--sleep` seconds
and reports its process id and CPUs; no MNIST (its commands run outside the workspace).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from bench.harness.session import Session, benchmark
from bench.harness.tables import Column, median_of, ratio_table, within


def child(sleep: float) -> dict[str, Any]:
    time.sleep(sleep)
    return {"pid": os.getpid(), "cpus": sorted(os.sched_getaffinity(0))}


@benchmark(
    __doc__,
    child=child,
    defaults={"rounds": 2},
    flags={"--sleep": {"type": float, "default": 0.2, "help": "the child's sleep in seconds"}},
)
def main(bench: Session) -> None:
    print(f"root: {bench.root}; parent pid {os.getpid()}")
    env = dict(os.environ)
    contenders = {
        "bare": lambda _: bench.run([sys.executable, "-c", "pass"], env, bench.root),
        "child": lambda _: bench.child({"sleep": bench.args.sleep}, env, bench.root),
    }
    results = bench.alternate(contenders, describe=lambda r: f"pid {r.get('pid')}, cpus {r.get('cpus')}")
    print(ratio_table(results, [Column("wall s", median_of("wall"), fmt=".3f")], [("child", "bare")]))
    print(
        within("bare / child", median_of("wall")(results["bare"]) / median_of("wall")(results["child"]), 1.0)
    )
    print(f"workspace made: {'workspace' in vars(bench)}")


if __name__ == "__main__":
    main()
