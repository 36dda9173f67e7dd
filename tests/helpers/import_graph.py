"""The project's own import graph, read from the source (AST), function-level imports included."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "pipeline"


def _dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> list[str]:
    """Every module and package of `pipeline`, by dotted name (a package is its `__init__`)."""
    return sorted(_dotted(path) for path in PACKAGE_DIR.rglob("*.py"))


def module_file(module: str) -> Path:
    """The file that runs when `module` is imported."""
    path = PACKAGE_DIR.parent.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def packages_of(module: str) -> list[str]:
    """The packages whose `__init__` runs before `module`: pipeline, pipeline.core, ..."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


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
    for node in _runtime_nodes(ast.parse(module_file(module).read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in ours}
    return names


def project_imports(module: str) -> set[str]:
    """The project modules `module` imports directly (packages' `__init__`s left out)."""
    ours = set(project_modules())
    packages = {name for name in ours if module_file(name).name == "__init__.py"}
    return {name for name in imported_names(module) if name in ours - packages and name != module}


def closure(module: str) -> set[str]:
    """`module` and every project module it imports, directly or indirectly, with the packages
    whose `__init__` runs on the way (and what those import)."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(project_imports(current))
            todo.extend(packages_of(current))
    return seen
