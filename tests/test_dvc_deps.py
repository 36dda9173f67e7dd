"""Every DVC stage depends on exactly the project modules that can change what it writes.

The closure is computed from the code (AST): starting at the stage's `python -m pipeline.<x>`, follow
every `pipeline.*` import, function-level ones included (they run when the function does), but not
those under `if TYPE_CHECKING:` (they never run). Recording code (the tracking layer, the operator
tools, the sweep launchers) is left out: it only copies what a stage wrote into MLflow, and
tests/test_recording.py shows a stage's files are the same bytes whether it records or not. A module
missing from a stage's deps would let a code change leave its outputs "up to date"; an extra one
would re-run it for nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from import_graph import closure, module_file

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pipeline"


RECORDING = ("pipeline.tracking", "pipeline.tools", "pipeline.launchers")
# Process plumbing (how the process was launched, its signals, its exit, the Hydra wrapper, the CLI).
PLUMBING = ("pipeline.process",)


def output_deps(module: str) -> set[str]:
    """The files of `module`'s import closure that can change its outputs: all but recording code."""
    modules = {name for name in closure(module) if not name.startswith(RECORDING + PLUMBING)}
    return {str(module_file(name).relative_to(ROOT)) for name in modules}


def import_closure(module: str) -> set[str]:
    """Repo-relative files of every project module `python -m <module>` can import, with the
    `__init__` of every package on the way (each runs before its modules)."""
    modules = closure(module)
    return {str(module_file(name).relative_to(ROOT)) for name in modules}


def _stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_stage_deps_are_its_import_closure(stage: str):
    spec = _stages()[stage]
    module = re.search(r"python -m (pipeline(?:\.\w+)+)", spec["cmd"])
    assert module, f"dvc.yaml stage {stage}: cmd {spec['cmd']!r} is not `python -m pipeline.<module>`"
    closure = output_deps(module.group(1))
    declared = {dep for dep in spec["deps"] if dep.startswith(f"{PACKAGE}/") and dep.endswith(".py")}
    missing, extra = sorted(closure - declared), sorted(declared - closure)
    assert not missing, f"dvc.yaml stage {stage} misses deps on modules it imports: {missing}"
    assert not extra, f"dvc.yaml stage {stage} depends on modules it never imports: {extra}"


def test_closure_follows_function_level_imports_and_skips_type_checking_ones():
    """The checker itself: train evaluates inside a function, and only type-checks keras."""
    closure = import_closure("pipeline.train")
    assert "pipeline/evaluation/scoring.py" in closure  # from a function body
    assert "pipeline/__init__.py" in closure  # the package runs first
    download = import_closure("pipeline.data.fetch")
    assert "pipeline/data/build.py" not in download and "pipeline/tracking/store.py" not in download
