"""`make run`'s runner on real processes (no DVC): at most `--jobs` stages at once, an evaluation
only after its own training succeeded, beside the trainings still running; a failed training stops
the rest, and its evaluation never starts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pipeline.core.errors import UserError
from pipeline.tools import repro


def _stage(name: str, log: Path, seconds: float, code: int = 0) -> repro.Stage:
    """A stage whose process records when it started and ended, sleeping `seconds` between."""
    body = (
        "import json, sys, time\n"
        f"log = open({str(log)!r}, 'a')\n"
        f"log.write(json.dumps([{name!r}, 'start', time.monotonic()]) + '\\n'); log.flush()\n"
        f"time.sleep({seconds})\n"
        f"log.write(json.dumps([{name!r}, 'end', time.monotonic()]) + '\\n'); log.flush()\n"
        f"sys.exit({code})\n"
    )
    return repro.Stage(name, [sys.executable, "-c", body])


def _events(log: Path) -> dict[tuple[str, str], float]:
    return {(name, what): at for name, what, at in map(json.loads, log.read_text().splitlines())}


@pytest.fixture(autouse=True)
def _quick_starts(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(repro, "LOCK_RETRY_S", 0.05)


def test_an_evaluation_starts_after_its_training_beside_the_trainings_still_running(tmp_path: Path):
    log = tmp_path / "events"
    stages = [
        _stage("train@0.0-1", log, 0.2),
        _stage("train@0.5-1", log, 4.0),
        _stage("evaluate@0.0-1", log, 0.2),
        _stage("evaluate@0.5-1", log, 0.2),
    ]
    after = {"evaluate@0.0-1": "train@0.0-1", "evaluate@0.5-1": "train@0.5-1"}
    repro.run_wave(stages, jobs=2, env={}, after=after)

    at = _events(log)
    for evaluation, training in after.items():
        assert at[(evaluation, "start")] >= at[(training, "end")]
    # the first evaluation took the first training's place while the second trained
    assert at[("evaluate@0.0-1", "end")] < at[("train@0.5-1", "end")]


def test_no_more_than_jobs_stages_run_at_once(tmp_path: Path):
    log = tmp_path / "events"
    repro.run_wave([_stage(f"train@0.{i}-1", log, 0.3) for i in range(5)], jobs=2, env={})
    at = _events(log)
    edges = sorted((time, +1 if what == "start" else -1) for (_, what), time in at.items())
    running = [sum(step for _, step in edges[: i + 1]) for i in range(len(edges))]
    assert max(running) == 2 and len(at) == 10


def test_a_failed_training_stops_the_rest_and_its_evaluation_never_starts(tmp_path: Path):
    log = tmp_path / "events"
    stages = [_stage("train@0.0-1", log, 0.1, code=3), _stage("evaluate@0.0-1", log, 0.1)]
    with pytest.raises(UserError, match=r"train@0.0-1 failed \(exit 3\)"):
        repro.run_wave(stages, jobs=2, env={}, after={"evaluate@0.0-1": "train@0.0-1"})
    assert ("evaluate@0.0-1", "start") not in _events(log)
