"""Runs a crash left RUNNING ended FAILED: `python -m pipeline.tracking.reconcile reconcile`.

A RUNNING run is stale when its process (host, pid, start time) is gone from this host, or, on
another host, when its heartbeat is older than `tracking.stale_after_s`. Trainings, sweeps and
reports reconcile before they start; this command does it on demand.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time

from pipeline.core.config import TrackingConfig
from pipeline.tracking.store import Store, TrackedRun
from pipeline.tracking.tags import TAG_HEARTBEAT, TAG_HOST, TAG_PID, TAG_PROC_START

log = logging.getLogger(__name__)


def process_start(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), None if there is no such process."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return None


def identity_tags() -> dict[str, str]:
    """Where this process runs, for the run it trains in (rounded: /proc's tick is 10 ms)."""
    started = process_start(os.getpid())
    return {
        TAG_HOST: socket.gethostname(),
        TAG_PID: str(os.getpid()),
        TAG_PROC_START: f"{started or 0.0:.2f}",
        TAG_HEARTBEAT: heartbeat_value(),
    }


def heartbeat_value(now: float | None = None) -> str:
    return f"{time.time() if now is None else now:.3f}"


def why_stale(
    run: TrackedRun, stale_after_s: float, now: float | None = None, host: str | None = None
) -> str | None:
    """Why a RUNNING run can no longer be running, or None while it may still be.

    On this host the process decides (a live process is never judged by its heartbeat: an epoch
    may take long); elsewhere only the heartbeat (or the run's start, before the first beat) can.
    A run that does not say where it runs (made by another tool) is not judged at all.
    """
    now = time.time() if now is None else now
    here = socket.gethostname() if host is None else host
    tags = run.tags
    if TAG_HOST not in tags:
        return None
    if tags.get(TAG_HOST) == here and tags.get(TAG_PID, "").isdigit():
        pid = int(tags[TAG_PID])
        started = process_start(pid)
        if started is None:
            return f"process {pid} on {here} is gone"
        recorded = float(tags.get(TAG_PROC_START, "0") or 0)
        if started and recorded and abs(started - recorded) > 1.0:
            return f"process {pid} on {here} is gone (its pid now belongs to a process started later)"
        return None
    beat = tags.get(TAG_HEARTBEAT)
    last = float(beat) if beat else run.start_ms / 1000
    if now - last > stale_after_s:
        where = tags[TAG_HOST]
        return (
            f"no heartbeat from {where} for {now - last:.0f} s (tracking.stale_after_s = {stale_after_s:g})"
        )
    return None


def reconcile(cfg: TrackingConfig) -> list[tuple[str, str]]:
    """End every stale RUNNING run of the store FAILED, tagged with why; return (run id, why) pairs."""
    store = Store.open(cfg)
    changed = []
    for run in store.running_runs():
        why = why_stale(run, cfg.stale_after_s)
        if why:
            store.end_stale(run.run_id, why)
            log.info("run %s was RUNNING, but %s: ended FAILED", run.run_id, why)
            changed.append((run.run_id, why))
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.tracking.reconcile", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("reconcile", help="end stale RUNNING runs FAILED, and list them")
    rec.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI, tracking.uri, mlflow.db")
    rec.add_argument("--stale-after-s", type=float, help="heartbeat age limit for runs of other hosts")
    args = parser.parse_args(argv)
    from pipeline.process.exit import reported_as_exit

    with reported_as_exit():
        cfg = _tracking_config(args.tracking_uri, args.stale_after_s)
        changed = reconcile(cfg)
    for run_id, why in changed:
        print(f"{run_id}: RUNNING -> FAILED ({why})")
    print(f"{len(changed)} run(s) ended FAILED" if changed else "no stale runs")
    return 0


def _tracking_config(uri: str | None, stale_after_s: float | None) -> TrackingConfig:
    """`conf/`'s tracking settings, with the command line's values where given."""
    from pipeline.core.params import composed_settings

    cfg = composed_settings().tracking
    changes = {"uri": uri, "stale_after_s": stale_after_s}
    return cfg.model_copy(update={key: value for key, value in changes.items() if value is not None})


if __name__ == "__main__":
    sys.exit(main())
