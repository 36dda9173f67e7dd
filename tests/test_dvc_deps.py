"""Every DVC stage depends on exactly the project modules its command can import.

The closure is computed from the code (AST): starting at the stage's `python -m pipeline.<x>`, follow
every `pipeline.*` import, function-level ones included (they run when the function does), but not
those under `if TYPE_CHECKING:` (they never run). A module missing from a stage's deps would let a
code change leave its outputs "up to date"; an extra one would re-run it for nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pipeline"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_file(dotted: str) -> Path | None:
    """`pipeline.x` -> pipeline/x.py (or pipeline/x/__init__.py); None if it is not a module."""
    base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _in_package(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] == PACKAGE


def _runtime_imports(tree: ast.AST) -> set[str]:
    """Dotted names of the project modules an AST imports at run time."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if _in_package(alias.name))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _in_package(node.module):
            found.add(node.module)
            # `from pipeline import tracking` imports the module pipeline.tracking
            found.update(
                f"{node.module}.{a.name}" for a in node.names if _module_file(f"{node.module}.{a.name}")
            )
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_closure(module: str) -> set[str]:
    """Repo-relative files of every project module `python -m <module>` can import, packages too."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        # importing a.b.c runs a/__init__.py and a/b/__init__.py first
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            path = _module_file(prefix)
            if path is None:
                continue
            rel = path.relative_to(ROOT).as_posix()
            if rel in seen:
                continue
            seen.add(rel)
            todo.extend(_runtime_imports(ast.parse(path.read_text(), filename=rel)))
    return seen


def _stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_stage_deps_are_its_import_closure(stage: str):
    spec = _stages()[stage]
    module = re.search(r"python -m (pipeline(?:\.\w+)+)", spec["cmd"])
    assert module, f"dvc.yaml stage {stage}: cmd {spec['cmd']!r} is not `python -m pipeline.<module>`"
    closure = import_closure(module.group(1))
    declared = {dep for dep in spec["deps"] if dep.startswith(f"{PACKAGE}/") and dep.endswith(".py")}
    missing, extra = sorted(closure - declared), sorted(declared - closure)
    assert not missing, f"dvc.yaml stage {stage} misses deps on modules it imports: {missing}"
    assert not extra, f"dvc.yaml stage {stage} depends on modules it never imports: {extra}"


def test_closure_follows_function_level_imports_and_skips_type_checking_ones():
    """The checker itself: train imports preprocess inside main(), and only type-checks keras."""
    closure = import_closure("pipeline.train")
    assert "pipeline/preprocess.py" in closure  # from a function body
    assert "pipeline/__init__.py" in closure  # the package runs first
    download = import_closure("pipeline.download")
    assert "pipeline/preprocess.py" not in download and "pipeline/tracking.py" not in download
