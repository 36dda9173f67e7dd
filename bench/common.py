"""Shared helpers of the benchmarks: MNIST (real or synthetic), child processes, peak memory, tables.

Every contender runs in a fresh child process (thread settings can only be chosen before TensorFlow
starts, and peak memory is only fair per process). A child prints one JSON line; the parent reads it.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MIRROR_ENV = "DROPOUT_LAB_DATA_MIRROR"
IDX_FILES = {
    "xtr": "train-images-idx3-ubyte.gz",
    "ytr": "train-labels-idx1-ubyte.gz",
    "xte": "t10k-images-idx3-ubyte.gz",
    "yte": "t10k-labels-idx1-ubyte.gz",
}
RESULT_PREFIX = "BENCH_RESULT "


def mirror_candidates() -> list[Path]:
    """Where real MNIST may be: the mirror setting, the pipeline's download, CI's shared copy."""
    found = [Path(os.environ[MIRROR_ENV])] if os.environ.get(MIRROR_ENV) else []
    return [*found, REPO / "data" / "raw" / "mnist", REPO.parent / "shared" / "data" / "mnist"]


def find_mirror() -> Path | None:
    """The first folder that holds all four canonical IDX files, or None."""
    for folder in mirror_candidates():
        if all((folder / name).is_file() for name in IDX_FILES.values()):
            return folder
    return None


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (`.gz`), as `keras.datasets.mnist.load_data` would return it."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def synthetic_mnist(seed: int = 0) -> dict[str, np.ndarray]:
    """Learnable stand-in of MNIST's shapes: ten noisy class prototypes, uint8 28x28."""
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 255, size=(10, 28, 28))

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, size=n).astype(np.uint8)
        x = np.clip(prototypes[y] + rng.normal(0, 90, size=(n, 28, 28)), 0, 255).astype(np.uint8)
        return x, y

    (xtr, ytr), (xte, yte) = split(60_000), split(10_000)
    return {"xtr": xtr, "ytr": ytr, "xte": xte, "yte": yte}


def load_mnist() -> tuple[dict[str, np.ndarray], str]:
    """Real MNIST from the first mirror that has it, else synthetic data; and where it came from."""
    folder = find_mirror()
    if folder is None:
        return synthetic_mnist(), "SYNTHETIC data of MNIST's shapes (no MNIST mirror found)"
    return {key: read_idx(folder / name) for key, name in IDX_FILES.items()}, f"real MNIST from {folder}"


def default_settings(overrides: Sequence[str] = ()) -> Any:
    """The project's config composed from conf/ (with `overrides`), validated."""
    import yaml

    from pipeline.config import load_settings
    from pipeline.params import compose_config

    return load_settings(yaml.safe_load(compose_config(list(overrides))))


def write_project_data(raw: dict[str, np.ndarray], root: Path) -> Path:
    """`<root>/data/processed/<name>.npz` from the raw arrays, by the project's own preprocessing code."""
    from pipeline.preprocess import RawData, build_dataset, write_processed

    cfg = default_settings().data
    raw_data = RawData(x_train=raw["xtr"], y_train=raw["ytr"], x_test=raw["xte"], y_test=raw["yte"])
    return write_processed(build_dataset(raw_data, cfg), cfg, root / "data" / "processed")


def prepare_mlflow_store(uri: str, artifacts: Path) -> None:
    """Create the store and the project's experiment (artifacts under `artifacts`) before any timing.

    A fresh SQLite store migrates its schema on first use; that one-time cost is not a run's.
    """
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # not the schema migration's chatter
    client = mlflow.MlflowClient(tracking_uri=uri)
    name = default_settings().tracking.experiment
    if client.get_experiment_by_name(name) is None:
        client.create_experiment(name, artifact_location=artifacts.as_uri())


@dataclass(frozen=True)
class Workspace:
    """What a benchmark's children share: raw arrays, a project root with the processed file, a store."""

    raw: Path
    root: Path
    tracking_uri: str
    source: str

    def env(self) -> dict[str, str]:
        """Point the project's code at this workspace (read when `pipeline.config` is imported)."""
        return {"DROPOUT_LAB_ROOT": str(self.root), "MLFLOW_TRACKING_URI": self.tracking_uri}


def prepare_workspace(tmp: Path) -> Workspace:
    """`raw.npz` for the seed loop, `root/data/processed/mnist.npz` for the project, an MLflow store."""
    raw, source = load_mnist()
    np.savez(tmp / "raw.npz", **raw)
    write_project_data(raw, tmp / "root")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    prepare_mlflow_store(uri, tmp / "artifacts")
    return Workspace(tmp / "raw.npz", tmp / "root", uri, source)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter out of the benchmark output (call before importing it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def emit(result: dict[str, Any]) -> None:
    """A child's one result line (the prefix keeps it apart from anything a library prints)."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_child(
    argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> dict[str, Any]:
    """Run one child process to the end and return its result line; fail loudly with its stderr."""
    done = subprocess.run(
        [PYTHON, *argv],
        cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.splitlines()[-30:])
        raise RuntimeError(f"child {' '.join(argv)} failed (exit {done.returncode}):\n{tail}")
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def mean(values: Sequence[float]) -> float:
    return float(statistics.fmean(values))


def verdict(ok: bool, applies: bool = True) -> str:
    """PASS / FAIL, or n/a when the run was too small to judge (e.g. a --quick smoke run)."""
    if not applies:
        return "n/a "
    return "PASS" if ok else "FAIL"


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain aligned text table (Markdown-compatible), numbers as given."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine() -> str:
    """One line about the machine the figures come from."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPU cores ({model}), {mem_gb:.0f} GB RAM, no GPU, Python {sys.version.split()[0]}"
    )
