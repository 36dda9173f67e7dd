"""Where the project lives: its root (data, models, results, mlflow.db) and the `conf/` it runs on.

A checkout (or an editable install) has conf/ beside pipeline/; a wheel installs it as the package
`dropout_lab_conf` (pyproject.toml), and then the project is the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]
_IN_CHECKOUT = (_CHECKOUT / "conf" / "config.yaml").is_file()


def _installed_conf() -> Path:
    """The installed `dropout_lab_conf` folder (YAML only, no `__init__.py`: a namespace package)."""
    from importlib.util import find_spec

    spec = find_spec("dropout_lab_conf")
    if spec is None or not spec.submodule_search_locations:
        return _CHECKOUT / "conf"  # neither a checkout nor an install: errors name where it looked
    return Path(next(iter(spec.submodule_search_locations)))


# Where data, models, metrics and mlflow.db go; DROPOUT_LAB_ROOT moves them (tests use a tmp dir).
PROJECT_ROOT = Path(os.environ.get("DROPOUT_LAB_ROOT", _CHECKOUT if _IN_CHECKOUT else Path.cwd()))
# The config always comes with the code (Hydra apps find it relative to their module too).
CONF_DIR = _CHECKOUT / "conf" if _IN_CHECKOUT else _installed_conf()


def project_path(*parts: str) -> Path:
    """A path under the project root, whatever the working directory (Hydra may change it)."""
    return PROJECT_ROOT.joinpath(*parts)


def shown(path: Path) -> str:
    """A path as a user types it: relative to the working directory when it lies under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
