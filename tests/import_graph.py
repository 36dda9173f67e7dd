"""The project's own import graph, read from the source (AST), function-level imports included."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "pipeline"


def project_modules() -> list[str]:
    """Every module of the `pipeline` package, by dotted name."""
    return sorted(
        "pipeline" if path.stem == "__init__" else f"pipeline.{path.stem}"
        for path in PACKAGE_DIR.glob("*.py")
    )


def _file(module: str) -> Path:
    return PACKAGE_DIR / ("__init__.py" if module == "pipeline" else f"{module.removeprefix('pipeline.')}.py")


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:` (imports for type hints never run)."""
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        nodes.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def imported_names(module: str) -> set[str]:
    """Every absolute module name `module` imports when it runs, anywhere in its body (`from x
    import y` gives x, and x.y when that is a module of the package)."""
    names: set[str] = set()
    ours = set(project_modules())
    for node in _runtime_nodes(ast.parse(_file(module).read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in ours}
    return names


def project_imports(module: str) -> set[str]:
    """The project modules `module` imports directly (the package's `__init__` left out)."""
    ours = set(project_modules()) - {"pipeline"}
    return {name for name in imported_names(module) if name in ours and name != module}


def closure(module: str) -> set[str]:
    """`module` and every project module it imports, directly or indirectly."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(project_imports(current))
    return seen
