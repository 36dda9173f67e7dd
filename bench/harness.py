"""What every benchmark shares: its flags, a throw-away project with MNIST, timed child processes,
contenders alternated in one run, and the table of their ratios.

The data goes through the package's own code (the IDX reader in `pipeline.data.build.read_raw`, the
split in `build_dataset`), real MNIST when a mirror has it, else the tests' synthetic MNIST
(`tests/helpers/synthetic.py`) at full size. Children run with `PYTHONPATH` at this checkout, so they import
this checkout's `pipeline` and `bench` whatever the working directory, and `DROPOUT_LAB_ROOT` at the
temp root, so their data, `mlflow.db` and `mlartifacts/` stay there.

Speed is compared side by side in one run: each round runs every contender once, in the same order
(`alternate`), so a change in the machine's load falls on all of them, and `ratio_table` prints the
medians with their ratios. Nothing here asserts a target: `verdict` prints PASS or FAIL.
"""

from __future__ import annotations

import pipeline  # noqa: F401  (first: its numeric pins must precede NumPy's start, as in every stage)

# isort: split
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.seed_loop import RESULT_PREFIX, emit  # noqa: F401  (re-exported: the seed imports nothing of ours)
from pipeline.core.config import Settings
from pipeline.data.fetch import MIRROR_ENV

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests" / "helpers"  # synthetic MNIST and the team-scale servers come from the tests' helpers
# Run as a file, not with -m: the baseline's start-up is the notebook's (no package, no runpy).
SEED_SCRIPT = Path(__file__).resolve().parent / "seed_loop.py"
Result = dict[str, Any]


# --- flags ---------------------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """The flags every benchmark takes, with its own defaults for a full run and for `--quick`.

    --cpus    taskset CPU list for every timed child ('' = no pinning)
    --rounds  rounds of the contenders, alternated (also spelled --runs)
    --epochs  epochs per training
    --quick   smoke run: the smallest settings that still print every figure
    A benchmark adds its own flags with default None and names their full and quick values in
    `defaults` and `quick`; `parse_args` fills in whichever applies.
    """

    def __init__(
        self,
        doc: str,
        *,
        cpus: str = "",
        defaults: Mapping[str, Any] | None = None,
        quick: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(description=doc.strip().splitlines()[0])
        self.full = {"rounds": 1, "epochs": None, **(defaults or {})}
        self.quick = {**self.full, "rounds": 1, **(quick or {})}

        def default(key: str) -> str:
            def shown(value: Any) -> str:
                return "the config's" if value is None else str(value)

            return f"default {shown(self.full[key])}; {shown(self.quick[key])} with --quick"

        self.add_argument("--cpus", default=cpus, help=f"taskset CPU list for the timed children ('' = "
                          f"no pinning; default {cpus!r})")  # fmt: skip
        self.add_argument("--rounds", "--runs", type=int, help=f"alternated rounds ({default('rounds')})")
        self.add_argument("--epochs", type=int, help=f"epochs per training ({default('epochs')})")
        self.add_argument("--quick", action="store_true", help="smoke run: the smallest settings")
        self.add_argument("--child", help=argparse.SUPPRESS)  # set when a benchmark runs itself as a child
        self.default = default  # for the flags a benchmark adds

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        parsed = super().parse_args(args, namespace)
        for key, value in (self.quick if parsed.quick else self.full).items():
            if getattr(parsed, key, None) is None:
                setattr(parsed, key, value)
        return parsed


# --- workspace -----------------------------------------------------------------------------------------


def tests_on_path() -> None:
    """Make the tests' helpers (`synthetic`, `team_fixtures`) importable."""
    if str(TESTS) not in sys.path:
        sys.path.append(str(TESTS))


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
    from pipeline.data.build import build_dataset, read_raw, write_processed

    raw_dir = root / "data" / "raw" / "mnist"
    raw_dir.mkdir(parents=True)
    mirror = mnist_mirror(settings_for())
    if mirror is not None:
        for _, item in settings_for().data.files:
            shutil.copyfile(mirror / item.file, raw_dir / item.file)
        overrides, source = [], f"real MNIST from {mirror}"
    else:
        tests_on_path()
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
        "from bench.harness import settings_for\n"
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


# --- timing whole commands -----------------------------------------------------------------------------


def taskset(cpus: str | None) -> list[str]:
    """The command prefix that pins a child to `cpus` ('' or None: no pinning)."""
    return ["taskset", "-c", cpus] if cpus else []


def run_child(argv: Sequence[str], env: Mapping[str, str], cwd: Path, cpus: str | None = None) -> Result:
    """Run a command to its end, pinned to `cpus`; return its result line (see `emit`) with its wall time
    (`wall`, spawn to exit), the wall-clock time it was spawned at (`started`) and its peak RSS in MiB
    as the OS accounts it (`peak_mib`: `wait4`, as `/usr/bin/time -v` reports it; the largest of the
    process and the children it waited for). Output goes to files, not pipes (a lingering grandchild
    holding a pipe would hang the read); a failure raises with the tail of its output."""
    argv = [*taskset(cpus), *map(str, argv)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started, start = time.time(), time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        tail = "\n".join((stderr or stdout).splitlines()[-30:])
        raise RuntimeError(f"child {' '.join(argv)} failed (exit {proc.returncode}):\n{tail}")
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    result = json.loads(lines[-1][len(RESULT_PREFIX) :]) if lines else {}
    return {**result, "wall": wall, "started": started, "peak_mib": usage.ru_maxrss / 1024}


def brief(result: Result) -> str:
    """A progress line's account of one measurement."""
    return f"{result['wall']:.1f} s, peak {result['peak_mib']:.0f} MiB"


def alternate(
    contenders: Mapping[str, Callable[[Any], Result]],
    rounds: Iterable[Any],
    describe: Callable[[Result], str] = brief,
    label: str = "round",
) -> dict[str, list[Result]]:
    """Every round, each contender once, in order (a, b, a, b, ...): side by side in one run, so a
    change in the machine's load falls on all alike. `contenders[name](round)` runs one and returns
    its measurement; a progress line is printed after each. Returns each contender's, round by round."""
    results: dict[str, list[Result]] = {name: [] for name in contenders}
    for round_ in rounds:
        for name, measure in contenders.items():
            results[name].append(measure(round_))
            print(f"  {label} {round_} {name}: {describe(results[name][-1])}", flush=True)
    return results


# --- tables --------------------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def each(key: str, fmt: str = ".1f") -> Callable[[list[Result]], str]:
    """A column listing every round's `key` (for the table's 'per round' column)."""
    return lambda results: " ".join(f"{r[key]:{fmt}}" for r in results)


def median_of(key: str) -> Callable[[list[Result]], float]:
    return lambda results: median(r[key] for r in results)


def largest(key: str) -> Callable[[list[Result]], float]:
    return lambda results: max(r[key] for r in results)


def ratio(numerator: Any, denominator: Any) -> str:
    """How the ratio rows compare two cells: their quotient when both are numbers, else blank."""
    numbers = all(isinstance(x, int | float) for x in (numerator, denominator))
    return f"{numerator / denominator:.3f}" if numbers and denominator else ""


@dataclass(frozen=True)
class Column:
    """One column of a ratio table: `value` sums up a contender's measurements (a number, or text such
    as `each(...)`), `fmt` formats it, `versus` fills the ratio rows (default: the quotient)."""

    header: str
    value: Callable[[list[Result]], Any]
    fmt: str = ".1f"
    versus: Callable[[Any, Any], str] = ratio


def ratio_table(
    results: Mapping[str, list[Result]],
    columns: Sequence[Column],
    ratios: Sequence[tuple[str, str] | tuple[str, str, str]],
    labels: Mapping[str, str] | None = None,
    first: str = "contender",
    ratio_label: Callable[[str, str], str] = lambda n, d: f"ratio ({n})/({d})",
) -> str:
    """One row per contender (`labels[name]`, else its name), then one row per (numerator, denominator
    [, note]): 'ratio (b)/(a)[: note]' and each column's `versus` of the two."""
    labels = labels or {}
    cells = {name: [column.value(rs) for column in columns] for name, rs in results.items()}
    rows = [
        [labels.get(name, name), *(f"{v:{c.fmt}}" for c, v in zip(columns, values, strict=True))]
        for name, values in cells.items()
    ]
    for numerator, denominator, *note in ratios:
        label = ratio_label(numerator, denominator) + (f": {note[0]}" if note else "")
        pairs = zip(columns, cells[numerator], cells[denominator], strict=True)
        rows.append([label, *(c.versus(n, d) for c, n, d in pairs)])
    return table(rows, [first, *(c.header for c in columns)])


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


def begin(name: str, cpus: str | None = None) -> None:
    """The first line of a benchmark's output: the machine, its load, the pinning."""
    pinned = f"; pinned to CPUs {cpus or 'all'}" if cpus is not None else ""
    print(f"{name}: {machine_line()}{pinned}", flush=True)


def end() -> None:
    """The last line: the load at the end (a busy machine shows in both)."""
    print(f"end: {machine_line()}")


def temp_root(name: str) -> tempfile.TemporaryDirectory[str]:
    """The benchmark's throw-away folder (removed at the end)."""
    return tempfile.TemporaryDirectory(prefix=f"dropout-lab-{name}-")
