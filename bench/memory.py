"""Peak memory of one training and of a 2-job sweep, as the operating system accounts it.

    python -m bench.memory [--epochs 5] [--rounds 1] [--cpus ''] [--quick]

(1) `python -m pipeline.train` (default config): its peak RSS from `wait4` (what `/usr/bin/time -v`
    reports as "Maximum resident set size"). Target <= 1.0 GiB.
(2) `python -m pipeline.train -m model.dropout.rate=0,0.5`: the Hydra parent and its joblib workers
    (2 jobs at once, as the default launcher runs them). Every 0.1 s the process tree is read from
    /proc: each process's own peak (VmHWM, kept by the kernel) and the tree's current total RSS.
    Reported: the sum over processes of their peaks (target <= 2.2 GiB) and the largest total
    seen at one moment. With several rounds (1) and (2) alternate and the largest of each is
    reported. Nothing is asserted. `--quick`: 1 epoch.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.harness.children import Result, taskset
from bench.harness.session import Session, benchmark
from bench.harness.tables import largest, table, verdict
from bench.harness.workspace import Workspace

TARGET_ONE_MIB = 1024
TARGET_SWEEP_MIB = 2.2 * 1024


def status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:60].decode()
    except (FileNotFoundError, ProcessLookupError):
        return "?"


def descendants(root: int) -> list[int]:
    """`root` and every process below it (from the parent ids in /proc/<pid>/stat)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


def sampled_tree(argv: list[str], ws: Workspace) -> Result:
    """Run `argv`; sample its process tree until it exits; per-process peaks and the total's peak."""
    log = ws.root / "sweep.log"
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, cwd=ws.root, env=ws.env(), stdout=out, stderr=subprocess.STDOUT)
    peaks: dict[int, int] = {}
    names: dict[int, str] = {}
    total_peak = 0
    while proc.poll() is None:
        total = 0
        for pid in descendants(proc.pid):
            hwm, rss = status_kib(pid, "VmHWM"), status_kib(pid, "VmRSS")
            if hwm is None or rss is None:
                continue
            peaks[pid] = max(peaks.get(pid, 0), hwm)
            names.setdefault(pid, command_line(pid))
            total += rss
        total_peak = max(total_peak, total)
        time.sleep(0.1)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"sweep failed:\n{log.read_text()[-3000:]}")
    for pid, kib in sorted(peaks.items(), key=lambda item: -item[1]):
        print(f"    pid {pid}: peak {kib / 1024:.0f} MiB  {names[pid]}")
    return {
        "sum_of_peaks": sum(peaks.values()) / 1024,
        "total_peak": total_peak / 1024,
        "processes": len(peaks),
        "wall": wall,
    }


def describe(result: Result) -> str:
    if "processes" in result:
        peaks = f"sum of {result['processes']} processes' peaks {result['sum_of_peaks']:.0f} MiB"
        return f"{result['wall']:.1f} s, {peaks}"
    return f"{result['wall']:.1f} s, peak {result['peak_mib']:.0f} MiB"


@benchmark(__doc__, defaults={"epochs": 5}, quick={"epochs": 1})
def main(bench: Session) -> None:
    ws = bench.workspace
    print(f"data: {ws.source}; {bench.args.epochs} epochs")
    train = [sys.executable, "-m", "pipeline.train"]
    config = [*ws.overrides, f"train.epochs={bench.args.epochs}"]

    def one(round_: int) -> Result:
        return bench.run([*train, *config, f"hydra.run.dir={ws.root / 'outputs' / str(round_)}"])

    def sweep(round_: int) -> Result:
        print("  2-job sweep (rates 0 and 0.5), per process:")
        sweep_dir = ws.root / "multirun" / str(round_)
        argv = [*train, "-m", *config, "model.dropout.rate=0,0.5", f"hydra.sweep.dir={sweep_dir}"]
        return sampled_tree([*taskset(bench.args.cpus), *argv], ws)

    results = bench.alternate({"one training": one, "2-job sweep": sweep}, describe=describe)
    peak = largest("peak_mib")(results["one training"])
    sum_of_peaks = largest("sum_of_peaks")(results["2-job sweep"])
    total_peak = largest("total_peak")(results["2-job sweep"])
    processes = largest("processes")(results["2-job sweep"])
    rows = [
        ["one training: peak RSS (wait4)", f"{peak:.0f}", f"{TARGET_ONE_MIB}"],
        [
            f"2-job sweep: sum of {processes} processes' peaks",
            f"{sum_of_peaks:.0f}",
            f"{TARGET_SWEEP_MIB:.0f}",
        ],
        ["2-job sweep: largest total at one moment", f"{total_peak:.0f}", ""],
    ]
    print("\n" + table(rows, ["measure", "MiB", "target MiB"]))
    print(f"\n{verdict(peak <= TARGET_ONE_MIB)}  one training {peak:.0f} MiB")
    print(f"{verdict(sum_of_peaks <= TARGET_SWEEP_MIB)}  2-job sweep {sum_of_peaks:.0f} MiB")


if __name__ == "__main__":
    main()
