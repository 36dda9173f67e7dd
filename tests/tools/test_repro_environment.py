"""`make run` records the environment that made the results (`environment.json`) only when the run
changed a result, so a run that reproduced every committed result leaves `git status` clean. The
whole `make run` on real DVC is in tests/test_parallel_repro.py; here, the rule on `dvc.lock` files."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from pipeline.core.environment import describe
from pipeline.tools.repro import output_hashes, record_environment


def _lock(folder: Path, model_md5: str, code_md5: str) -> Path:
    """A dvc.lock with one stage: a code dependency and an output."""
    stage = {
        "cmd": "python -m pipeline.train",
        "deps": [{"path": "pipeline/train.py", "hash": "md5", "md5": code_md5, "size": 1}],
        "outs": [{"path": "models/rate_0.5", "hash": "md5", "md5": model_md5 + ".dir", "size": 2}],
    }
    lock = folder / "dvc.lock"
    lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": {"train@0.5": stage}}))
    return lock


def test_only_the_outputs_hashes_count(tmp_path: Path):
    assert output_hashes(tmp_path / "dvc.lock") == {}  # before the first run
    first = output_hashes(_lock(tmp_path, "a" * 32, "c" * 32))
    assert first == {"train@0.5 models/rate_0.5": "a" * 32 + ".dir"}
    assert output_hashes(_lock(tmp_path, "a" * 32, "d" * 32)) == first  # new code, same results


def test_the_environment_is_written_when_a_result_changed_or_none_is_recorded(tmp_path: Path):
    record = tmp_path / "environment.json"
    same = {"train@0.5 models/rate_0.5": "a"}
    assert record_environment(record, same, same)  # no record yet
    assert json.loads(record.read_text()) == describe()

    record.write_text('{"cpu": "the host that made the committed results"}\n')
    assert not record_environment(record, same, dict(same))
    assert "the host that made the committed results" in record.read_text()

    assert record_environment(record, same, {"train@0.5 models/rate_0.5": "b"})
    assert json.loads(record.read_text()) == describe()
