"""The module structure docs/architecture.md describes, enforced: one door to MLflow, no import
cycles, and layers that import one way (data -> model -> fit -> evaluate -> report, stages on top)."""

from __future__ import annotations

import pytest
from import_graph import closure, imported_names, project_imports, project_modules

# Lower layers never import higher ones. A new module must be placed here (the test says so).
LAYERS = {
    "base": [
        "atomic",
        "config",
        "errors",
        "interrupts",
        "launch",
        "layout",
        "metrics",
        "params",
        "plots",
        "quick_exit",
        "runs",
        "server",
        "stage",
        "store",
        "tracking",
    ],
    "data": ["aligned", "download", "idx", "preprocess"],
    "model": ["dropout", "layers", "model", "model_file", "pixels"],
    "fit": ["recipe", "batches", "checkpoint", "fit", "resume"],
    "evaluate": ["inference", "evaluate"],
    "report": ["collect", "summary", "report", "paper", "paper_report"],
    "stages": ["train", "sweep_callback", "cluster", "ui"],
}
RANK = {f"pipeline.{name}": rank for rank, names in enumerate(LAYERS.values()) for name in names}


def test_every_module_has_a_layer():
    unplaced = set(project_modules()) - set(RANK) - {"pipeline"}
    assert not unplaced, f"place these modules in a layer of LAYERS (and docs/architecture.md): {unplaced}"


def test_only_tracking_imports_mlflow():
    importers = {
        module
        for module in project_modules()
        if any(name == "mlflow" or name.startswith("mlflow.") for name in imported_names(module))
    }
    assert importers == {"pipeline.tracking"}


@pytest.mark.parametrize("module", sorted(RANK))
def test_no_module_imports_a_higher_layer(module: str):
    higher = {name for name in project_imports(module) if RANK[name] > RANK[module]}
    assert not higher, f"{module} (layer {RANK[module]}) imports higher layers: {higher}"


def test_there_are_no_import_cycles():
    cycles = {
        (module, other) for module in RANK for other in project_imports(module) if module in closure(other)
    }
    assert not cycles, f"modules that import each other, directly or through others: {sorted(cycles)}"


def test_data_stages_and_the_report_never_import_tensorflow():
    """They must start fast: TensorFlow's import alone takes seconds."""
    for stage in ("pipeline.download", "pipeline.preprocess", "pipeline.report"):
        for module in closure(stage):
            tf = {n for n in imported_names(module) if n.split(".")[0] in ("tensorflow", "keras")}
            assert not tf, f"{stage} imports {tf} through {module}"
