"""A throw-away project root for the children: MNIST read and split by the package's own code, an
MLflow store made before any timing, and the environment that keeps every child inside it.

The data is real MNIST when a mirror has it, else the tests' synthetic MNIST
(`tests/helpers/synthetic.py`) at full size. Children run with `PYTHONPATH` at this checkout, so they
import this checkout's `pipeline` and `bench` whatever the working directory, and `DROPOUT_LAB_ROOT`
at the temp root, so their data, `mlflow.db` and `mlartifacts/` stay there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.core.config import Settings
from pipeline.core.numerics import PINS, UNPINNED_ENV
from pipeline.data.fetch import MIRROR_ENV

REPO = Path(__file__).resolve().parents[2]
# Run as a file, not with -m: the baseline's start-up is the notebook's (no package, no runpy).
SEED_SCRIPT = REPO / "bench" / "seed_loop.py"


def settings_for(overrides: Sequence[str] = ()) -> Settings:
    """The config composed from conf/ with `overrides`, validated (what the stages would use)."""
    import yaml

    from pipeline.core.config import load_settings
    from pipeline.core.params import compose_config

    return load_settings(yaml.safe_load(compose_config(list(overrides))))


def mnist_mirror(settings: Settings) -> Path | None:
    """The first folder with all four MNIST files: the mirror setting, this checkout's download,
    the machine's shared copy."""
    candidates = [Path(os.environ[MIRROR_ENV])] if os.environ.get(MIRROR_ENV) else []
    candidates += [REPO / "data" / "raw" / "mnist", REPO.parent / "shared" / "data" / "mnist"]
    names = [item.file for _, item in settings.data.files]
    return next((c for c in candidates if all((c / n).is_file() for n in names)), None)


def shown(mirror: Path) -> str:
    """How the output names the mirror: by its setting when it came from there (no machine paths)."""
    from_env = os.environ.get(MIRROR_ENV)
    return f"${MIRROR_ENV}" if from_env and Path(from_env) == mirror else str(mirror)


@dataclass(frozen=True)
class Workspace:
    """A project root with `data/raw/mnist`, `data/processed/mnist.npz` and an MLflow store;
    `raw.npz` beside it is what the seed notebook's `mnist.load_data()` reads."""

    root: Path
    raw_npz: Path
    source: str
    overrides: list[str] = field(default_factory=list)  # Hydra overrides the data needs (synthetic)

    @property
    def tracking_uri(self) -> str:
        """The root's own store, where the children log (see `env`)."""
        return f"sqlite:///{self.root / 'mlflow.db'}"

    def env(self) -> dict[str, str]:
        env = {**os.environ, "DROPOUT_LAB_ROOT": str(self.root), "PYTHONPATH": str(REPO)}
        for inherited in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "DVC_ROOT"):  # the root's own mlflow.db
            env.pop(inherited, None)
        return env


def unpinned(env: Mapping[str, str], keep: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` without the numeric pins, as a user who turns them off runs; `keep`: pins set anyway."""
    return {key: value for key, value in env.items() if key not in PINS} | {UNPINNED_ENV: "1", **(keep or {})}


def prepare_workspace(root: Path) -> Workspace:
    """Raw and processed MNIST under `root` by the package's code, and a ready MLflow store."""
    from pipeline.data.build import build_dataset, read_raw, write_processed

    raw_dir = root / "data" / "raw" / "mnist"
    raw_dir.mkdir(parents=True)
    mirror = mnist_mirror(settings_for())
    if mirror is not None:
        for _, item in settings_for().data.files:
            shutil.copyfile(mirror / item.file, raw_dir / item.file)
        overrides, source = [], f"real MNIST from {shown(mirror)}"
    else:
        from tests.helpers.synthetic import synthetic_overrides, write_synthetic_mnist

        md5s = write_synthetic_mnist(raw_dir, n_train=60_000, n_test=10_000)
        overrides, source = synthetic_overrides(raw_dir, md5s), "SYNTHETIC data of MNIST's shapes"
    settings = settings_for(overrides)
    raw = read_raw(raw_dir, settings.data.files)
    np.savez(root / "raw.npz", xtr=raw.x_train, ytr=raw.y_train, xte=raw.x_test, yte=raw.y_test)
    write_processed(build_dataset(raw, settings.data), settings.data, root / "data" / "processed")
    workspace = Workspace(root, root / "raw.npz", source, overrides)
    create_store(workspace)
    return workspace


def create_store(workspace: Workspace) -> None:
    """Create the root's MLflow store and experiment before any timing: a new SQLite store migrates
    its schema on first use, a one-time cost that is not a run's."""
    code = (
        "from pipeline.tracking.store import Store\n"
        "from bench.harness.workspace import settings_for\n"
        "import sys\n"
        "cfg = settings_for(sys.argv[1:]).tracking\n"
        "Store.open(cfg).experiment_id(cfg.experiment)\n"
    )
    argv = [sys.executable, "-c", code, *workspace.overrides]
    subprocess.run(argv, env=workspace.env(), cwd=workspace.root, check=True)


def prepare_store(uri: str, artifacts: Path) -> None:
    """A store at `uri` with the project's experiment (artifacts under `artifacts`), made before
    any timing: a new SQLite store migrates its schema on first use."""
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    client = mlflow.MlflowClient(tracking_uri=uri)
    name = settings_for().tracking.experiment
    if client.get_experiment_by_name(name) is None:
        client.create_experiment(name, artifact_location=artifacts.as_uri())


def clone_head(dest: Path) -> str:
    """A clone of this checkout at its HEAD commit; warns when the work tree has uncommitted changes."""
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    if dirty:
        print("WARNING: uncommitted changes are not in the clone; it runs HEAD", head[:10])
    subprocess.run(["git", "clone", "-q", str(REPO), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", head], check=True)
    return head


def clone_env(mirror: Path) -> dict[str, str]:
    """A clone is its own project root; the venv's python and dvc come first on PATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DROPOUT_LAB_", "MLFLOW_"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env[MIRROR_ENV] = str(mirror)
    env.pop("PYTHONPATH", None)
    return env
