"""The layers docs/architecture.md draws, enforced on the folders: one door to MLflow, no import
cycles, and subpackages that import one way (core -> process -> data -> model -> training ->
evaluation -> tracking -> runs -> reporting -> tuning -> launchers -> tools, the stage entry points
on top); and the page itself against the tree."""

from __future__ import annotations

import re

import pytest

from tests.helpers.import_graph import (
    PACKAGE_DIR,
    closure,
    imported_names,
    module_file,
    project_imports,
    project_modules,
)

# Lower layers never import higher ones; a subpackage is a layer, `pipeline/<stage>.py` the top.
LAYERS = [
    "core", "process", "data", "model", "training", "evaluation", "tracking", "runs", "reporting",
    "tuning", "launchers", "tools",
]  # fmt: skip
STAGES = {"download", "preprocess", "train", "evaluate", "report", "paper_report", "tune"}
# The other door at the top: the Python API.
FRONT_DOORS = {"api"}
MODULES = [m for m in project_modules() if m.count(".") >= 1]


def rank(module: str) -> int:
    """The layer of a module: its subpackage's place in LAYERS, or the top for a stage."""
    part = module.split(".")[1]
    return LAYERS.index(part) if part in LAYERS else len(LAYERS)


def test_the_folders_are_the_layers():
    folders = {path.name for path in PACKAGE_DIR.iterdir() if (path / "__init__.py").is_file()}
    assert folders == set(LAYERS), "a new subpackage needs a place in LAYERS and docs/architecture.md"
    top = {m.split(".")[1] for m in MODULES if m.count(".") == 1 and m.split(".")[1] not in LAYERS}
    assert top == STAGES | FRONT_DOORS, "only the entry points sit at the top of pipeline/"


def test_only_the_tracking_layer_imports_mlflow():
    importers = {
        module
        for module in project_modules()
        if any(name == "mlflow" or name.startswith("mlflow.") for name in imported_names(module))
    }
    assert importers and all(m.startswith("pipeline.tracking.") for m in importers), importers


def test_only_the_tuning_layer_imports_optuna():
    importers = {
        module
        for module in project_modules()
        if any(name == "optuna" or name.startswith("optuna.") for name in imported_names(module))
    }
    assert importers and all(m.startswith("pipeline.tuning.") for m in importers), importers


@pytest.mark.parametrize("module", MODULES)
def test_no_module_imports_a_higher_layer(module: str):
    higher = {name for name in project_imports(module) if rank(name) > rank(module)}
    assert not higher, f"{module} (layer {rank(module)}) imports higher layers: {higher}"


def test_training_and_evaluation_never_import_tracking():
    """What decides a model's files is free of recording code (so tracking is no DVC dep of it)."""
    for layer in ("data", "model", "training", "evaluation"):
        for module in (m for m in MODULES if m.startswith(f"pipeline.{layer}.")):
            recording = {n for n in closure(module) if n.startswith(("pipeline.tracking", "pipeline.tools"))}
            assert not recording, f"{module} reaches recording code: {recording}"


def test_there_are_no_import_cycles():
    cycles = {
        (module, other) for module in MODULES for other in project_imports(module) if module in closure(other)
    }
    assert not cycles, f"modules that import each other, directly or through others: {sorted(cycles)}"


def test_data_stages_and_the_report_never_import_tensorflow():
    """They must start fast: TensorFlow's import alone takes seconds."""
    for stage in ("pipeline.download", "pipeline.preprocess", "pipeline.report"):
        for module in closure(stage):
            tf = {n for n in imported_names(module) if n.split(".")[0] in ("tensorflow", "keras")}
            assert not tf, f"{stage} imports {tf} through {module}"


PAGE = PACKAGE_DIR.parent / "docs" / "architecture.md"


def page_map() -> set[str]:
    """The modules the page's map names, as paths under pipeline/: a `<package>/` line opens a
    package, and each `<name>.py` in the first column after it (at the top level, before any) is
    one of its modules; a description follows two spaces or more."""
    block = PAGE.read_text().split("```text\n", 1)[1].split("```", 1)[0]
    named, package = set(), ""
    for line in block.splitlines()[1:]:  # after `pipeline/`
        opened = re.match(r"^  (\w+)/", line)
        if opened:
            package = opened.group(1) + "/"
        elif re.match(r"^  \w+\.py", line):
            package = ""  # the top-level modules follow the packages
        names = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        named |= {package + name for name in re.findall(r"\b(\w+\.py)\b", names)}
    return named


def test_the_architecture_page_maps_every_module_and_package_and_nothing_else():
    on_disk = {str(p.relative_to(PACKAGE_DIR)) for p in PACKAGE_DIR.rglob("*.py") if p.name != "__init__.py"}
    on_disk.add("__init__.py")
    named = page_map()
    assert not named - on_disk, (
        f"docs/architecture.md names modules that do not exist: {sorted(named - on_disk)}"
    )
    assert not on_disk - named, f"docs/architecture.md leaves out: {sorted(on_disk - named)}"
    packages = {p.parent.name for p in PACKAGE_DIR.glob("*/__init__.py")}
    assert packages == {name.split("/")[0] for name in named if "/" in name} == set(LAYERS)


def test_every_module_the_architecture_page_mentions_exists():
    text = PAGE.read_text()
    paths = set(re.findall(r"`(pipeline/[\w/]+\.py)`", text))
    dotted = {name for name in re.findall(r"`(pipeline(?:\.\w+)+)", text) if name.count(".") >= 1}
    for path in paths:
        assert (PACKAGE_DIR.parent / path).is_file(), path
    for name in dotted:
        module = name.split("(")[0]
        parts = module.split(".")
        found = any(module_file(".".join(parts[:n])).exists() for n in range(2, len(parts) + 1))
        assert found, name
