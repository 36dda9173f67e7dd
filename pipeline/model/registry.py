"""Models by name: `model.name` is a module of this package that defines `Config` (its keys: the
shared `ModelConfig` and its own) and `build_model`. A new model is that module and its
`conf/model/<name>.yaml`; nothing lists models elsewhere. A model module imports TensorFlow only
inside its functions, so the config is validated before TensorFlow loads.
"""

from __future__ import annotations

import ast
import functools
import importlib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from pipeline.core.config import ModelConfig

if TYPE_CHECKING:
    import keras

PACKAGE = __name__.rpartition(".")[0]
_FOLDER = Path(__file__).parent
# What makes a module of this package a model.
_MEMBERS = {"Config", "build_model"}


@functools.cache
def names() -> list[str]:
    """The models there are: this package's modules that define `Config` and `build_model`
    (read from their source, so listing them imports nothing)."""
    return sorted(path.stem for path in _FOLDER.glob("*.py") if _top_level_names(path) >= _MEMBERS)


def _top_level_names(path: Path) -> set[str]:
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.Assign):
            found |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return found


def module(name: str) -> ModuleType:
    if name not in names():
        raise ValueError(f"no model named {name!r}; the models are {', '.join(names())}")
    return importlib.import_module(f"{PACKAGE}.{name}")


def config_class(name: str) -> type[ModelConfig]:
    """The schema of the model's keys."""
    schema: type[ModelConfig] = module(name).Config
    return schema


def build_model(cfg: ModelConfig, image_shape: Sequence[int], num_classes: int, seed: int = 0) -> keras.Model:
    """The model `cfg.name` names, for flat rows of images of `image_shape` (the data says which)."""
    model: keras.Model = module(cfg.name).build_model(cfg, image_shape, num_classes, seed)
    return model
