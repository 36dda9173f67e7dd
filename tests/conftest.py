"""Fixtures shared by the test modules (each block keeps to itself; add yours below)."""

from __future__ import annotations

import pipeline  # noqa: F401  (first: its numeric pins must precede NumPy's and TensorFlow's start)

# isort: split
import json
from pathlib import Path

import pytest

from tests.helpers import reaper
from tests.helpers.synthetic import SyntheticMnist, synthetic_settings, write_synthetic_mnist


# A run stopped by SIGTERM, SIGHUP or Ctrl-C leaves no server, cluster or worker process behind
# (helpers/reaper.py; tests/project/test_interrupted_run.py stops real runs to show it).
def pytest_configure(config: pytest.Config) -> None:
    worker = hasattr(config, "workerinput")
    if not worker:
        reaper.start_run()
        reaper.add_marker(reaper.run_marker())
    else:
        reaper.add_marker(reaper.run_tag())
    # xdist's option (set before any pytest_configure): this process hands tests to workers.
    reaper.install_signal_handlers(
        xdist_controller=not worker and getattr(config.option, "dist", "no") != "no"
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    factory = getattr(config, "_tmp_path_factory", None)
    basetemp = getattr(factory, "_basetemp", None)  # set once a test (or xdist) used it; never made here
    if basetemp is not None:
        reaper.add_marker(f"{basetemp}/")
    reaper.reap()


# Test files run longest first, by the durations pytest measured (`make durations` stores each file's
# total in tests/durations.json): xdist hands out the minutes-long files first (`--dist loadfile
# --no-loadscope-reorder` keeps this order), so the workers finish together. A file not measured yet
# runs last; tests within a file keep their order.
DURATIONS = Path(__file__).with_name("durations.json")
_measured: dict[str, float] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store-durations", action="store_true", help=f"record each file's duration in {DURATIONS}"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seconds = json.loads(DURATIONS.read_text()) if DURATIONS.is_file() else {}
    items.sort(key=lambda item: -seconds.get(item.nodeid.split("::")[0], 0.0))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Setup, call and teardown of every test (xdist forwards its workers' reports here)."""
    file = report.nodeid.split("::")[0]
    _measured[file] = _measured.get(file, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not session.config.getoption("store_durations") or hasattr(session.config, "workerinput"):
        return
    stored = json.loads(DURATIONS.read_text()) if DURATIONS.is_file() else {}
    merged = {**stored, **{file: round(seconds, 1) for file, seconds in _measured.items()}}
    kept = {file: seconds for file, seconds in merged.items() if (DURATIONS.parent.parent / file).is_file()}
    DURATIONS.write_text(json.dumps(dict(sorted(kept.items(), key=lambda kv: -kv[1])), indent=1) + "\n")


@pytest.fixture
def synthetic_mnist(tmp_path: Path) -> SyntheticMnist:
    """Tiny MNIST-format files (200 train / 50 test) in a tmp folder, and settings whose
    `data.mirrors` is that folder and whose `data.files` md5s match them."""
    folder = tmp_path / "mirror"
    md5s = write_synthetic_mnist(folder, n_train=200, n_test=50, seed=0)
    return SyntheticMnist(folder=folder, md5s=md5s, settings=synthetic_settings(folder, md5s))


# Training, tracking and evaluation tests: a tiny learnable dataset, a small config, a temp MLflow store.
from tests.helpers.training_fixtures import mlflow_store, tiny_data, tiny_settings  # noqa: E402, F401
