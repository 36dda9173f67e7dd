"""What every benchmark shares: a throw-away project root with MNIST in it, child processes, tables.

The data goes through the package's own code (the IDX reader in `pipeline.data.preprocess.read_raw`, the
split in `build_dataset`), real MNIST when a mirror has it, else the tests' synthetic MNIST
(`tests/helpers/synthetic.py`) at full size. Children run with `PYTHONPATH` at this checkout, so they import
this checkout's `pipeline` whatever the working directory, and `DROPOUT_LAB_ROOT` at the temp root,
so their data, `mlflow.db` and `mlartifacts/` stay there.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "helpers")]  # this checkout's `pipeline`, and synthetic.py

from seed_loop import RESULT_PREFIX, emit  # noqa: E402, F401  (re-exported: the seed imports nothing of ours)

from pipeline.core.config import MIRROR_ENV, Settings  # noqa: E402

SEED_SCRIPT = Path(__file__).resolve().parent / "seed_loop.py"


def mnist_mirror(settings: Settings) -> Path | None:
    """The first folder with all four MNIST files: the mirror setting, this checkout's download,
    the machine's shared copy."""
    candidates = [Path(os.environ[MIRROR_ENV])] if os.environ.get(MIRROR_ENV) else []
    candidates += [REPO / "data" / "raw" / "mnist", REPO.parent / "shared" / "data" / "mnist"]
    names = [item.file for _, item in settings.data.files]
    return next((c for c in candidates if all((c / n).is_file() for n in names)), None)


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


def settings_for(overrides: Sequence[str] = ()) -> Settings:
    """The config composed from conf/ with `overrides`, validated (what the stages would use)."""
    import yaml

    from pipeline.core.config import load_settings
    from pipeline.core.params import compose_config

    return load_settings(yaml.safe_load(compose_config(list(overrides))))


def prepare_workspace(root: Path) -> Workspace:
    """Raw and processed MNIST under `root` by the package's code, and a ready MLflow store."""
    from pipeline.data.preprocess import build_dataset, read_raw, write_processed

    raw_dir = root / "data" / "raw" / "mnist"
    raw_dir.mkdir(parents=True)
    mirror = mnist_mirror(settings_for())
    if mirror is not None:
        for _, item in settings_for().data.files:
            shutil.copyfile(mirror / item.file, raw_dir / item.file)
        overrides, source = [], f"real MNIST from {mirror}"
    else:
        from synthetic import synthetic_overrides, write_synthetic_mnist

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
        "from workspace import settings_for\n"
        "import sys\n"
        "cfg = settings_for(sys.argv[1:]).tracking\n"
        "Store.open(cfg).experiment_id(cfg.experiment)\n"
    )
    env = {**workspace.env(), "PYTHONPATH": f"{REPO}:{Path(__file__).parent}"}
    argv = [sys.executable, "-c", code, *workspace.overrides]
    subprocess.run(argv, env=env, cwd=workspace.root, check=True)


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


def taskset(cpus: str | None) -> list[str]:
    """The command prefix that pins a child to `cpus` ('' or None: no pinning)."""
    return ["taskset", "-c", cpus] if cpus else []


def run_child(argv: Sequence[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run a child to its end; return its result line (see `emit`) with its wall time and its own
    peak RSS in MiB as the OS accounts it (`wait4`, as `/usr/bin/time -v` reports it); fail loudly."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        tail = "\n".join(stderr.splitlines()[-30:])
        raise RuntimeError(f"child {' '.join(map(str, argv))} failed (exit {proc.returncode}):\n{tail}")
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    result = json.loads(lines[-1][len(RESULT_PREFIX) :]) if lines else {}
    return {**result, "wall": wall, "peak_mib": usage.ru_maxrss / 1024}


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """Rows as a plain text table (pandas does the layout)."""
    import pandas as pd

    return pd.DataFrame([list(map(str, row)) for row in rows], columns=list(header)).to_string(index=False)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def machine_line() -> str:
    """The machine and how busy it is, for the top of every benchmark's output."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "unknown CPU")
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    python = sys.version.split()[0]
    return f"{os.cpu_count()} cores ({model}), {mem_gb:.0f} GB RAM, Python {python}; load average {load}"
