"""Every DVC stage's code deps, written by hand in dvc.yaml as a few folders or files, cover exactly
the project code that can change what it writes.

That code is the stage's import closure, computed from the source (AST): start at the stage's
`python -m pipeline.<x>`, follow every `pipeline.*` import, function-level ones included (they run
when the function does), but not those under `if TYPE_CHECKING:` (they never run). Left out:
recording code (the tracking layer, the operator tools, the Hydra callbacks), which only copies
what a stage wrote into MLflow (tests/runs/test_recording.py shows a stage writes the same bytes whether
it records or not), and process plumbing (how the process was launched, its signals, its exit).
A module no entry covers would let a code change leave the outputs "up to date"; an entry the
closure never reaches, or one that covers recording code or plumbing, would re-run it for nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.helpers.import_graph import closure, module_file

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ("pipeline.tracking", "pipeline.tools", "pipeline.launchers")
PLUMBING = ("pipeline.process",)
MAX_ENTRIES = 8


def output_code(module: str) -> set[str]:
    """Repo-relative files of `module`'s import closure that can change its outputs."""
    modules = {name for name in closure(module) if not name.startswith(RECORDING + PLUMBING)}
    return {str(module_file(name).relative_to(ROOT)) for name in modules}


def not_deps() -> set[str]:
    """Every file of recording code and plumbing."""
    packages = [ROOT.joinpath(*name.split(".")) for name in RECORDING + PLUMBING]
    return {str(path.relative_to(ROOT)) for folder in packages for path in folder.rglob("*.py")}


def covers(entry: str, file: str) -> bool:
    return file == entry or file.startswith(entry.rstrip("/") + "/")


def _stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def code_deps(spec: dict) -> list[str]:
    return [dep for dep in spec["deps"] if dep.startswith("pipeline")]


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_stage_code_deps_are_a_few_entries_that_cover_its_output_code(stage: str):
    spec = _stages()[stage]
    module = re.search(r"python -m (pipeline(?:\.\w+)+)", spec["cmd"])
    assert module, f"dvc.yaml stage {stage}: cmd {spec['cmd']!r} is not `python -m pipeline.<module>`"
    needed, entries = output_code(module.group(1)), code_deps(spec)
    assert len(entries) <= MAX_ENTRIES, f"dvc.yaml stage {stage}: {len(entries)} code deps, at most 8"
    assert all((ROOT / entry).exists() for entry in entries), entries
    uncovered = sorted(file for file in needed if not any(covers(entry, file) for entry in entries))
    assert not uncovered, f"dvc.yaml stage {stage} misses deps on code it runs: {uncovered}"
    dead = [entry for entry in entries if not any(covers(entry, file) for file in needed)]
    assert not dead, f"dvc.yaml stage {stage} depends on code it never imports: {dead}"
    recording = sorted(f for f in not_deps() if any(covers(entry, f) for entry in entries))
    assert not recording, f"dvc.yaml stage {stage} depends on recording code or plumbing: {recording}"


def test_the_checker_follows_function_level_imports_and_skips_type_checking_ones():
    """The closure itself: scoring asks the model layer inside a function; the training's file
    writer names the data contract only for type checks."""
    found = closure("pipeline.evaluation.scoring")
    assert "pipeline.model.blocks" in found  # from a function body
    assert "pipeline" in found and "pipeline.evaluation" in found  # the packages run first
    assert "pipeline.data.processed" not in closure("pipeline.training.outputs")  # TYPE_CHECKING


def test_the_train_stage_leaves_out_evaluation_plumbing_and_recording():
    train = output_code("pipeline.train")
    assert not any(file.startswith("pipeline/evaluation/") for file in train), sorted(train)
    assert "pipeline/tracking/active_run.py" in {
        str(module_file(m).relative_to(ROOT)) for m in closure("pipeline.train")
    }  # imported, and still no dep
    assert not train & not_deps()


def test_the_train_stage_reads_every_train_key_but_the_seed_its_matrix_item_sets():
    """train.seed is the item's (`train.seed=${item.seed}`), so params.yaml's value, which DVC runs
    ignore, is no param of the stage: changing it re-runs nothing. Every other train key can change
    a training's outputs, and a key missing here would leave them "up to date"."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    declared = _stages()["train"]["params"]
    assert "train" not in declared and "train.seed" not in declared
    missing = sorted({f"train.{key}" for key in params["train"]} - {"train.seed"} - set(declared))
    assert not missing, f"dvc.yaml stage train misses params it reads: {missing}"
