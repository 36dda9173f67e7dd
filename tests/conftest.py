"""Fixtures shared by the test modules (each block keeps to itself; add yours below)."""

from __future__ import annotations

import pipeline  # noqa: F401  (first: its numeric pins must precede NumPy's and TensorFlow's start)

# isort: split
from pathlib import Path

import pytest
import reaper
from synthetic import SyntheticMnist, synthetic_settings, write_synthetic_mnist


# A run stopped by SIGTERM, SIGHUP or Ctrl-C leaves no server, cluster or worker process behind
# (helpers/reaper.py; tests/test_interrupted_run.py stops real runs to show it).
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


# The files that take minutes, longest first (measured with `pytest --durations`): they start first,
# and the short files fill in after them, so the xdist workers finish together (`make test-all`
# passes --no-loadscope-reorder, which keeps this order). Tests within a file keep their order.
LONGEST_FIRST = (
    "test_dvc_experiments.py",
    "test_dvc_pipeline.py",
    "test_dvc_paper_presets.py",
    "test_team_scale.py",
    "test_team_server.py",
    "test_resume_process.py",
    "test_parallel_repro.py",
    "test_paper_presets.py",
    "test_tune.py",
    "test_sweep.py",
    "test_mlflow_ui.py",
    "test_progress.py",
    "test_interrupted_run.py",
    "test_dvc_resume.py",
    "test_numerics.py",
    "test_bad_inputs.py",
    "test_parent_heartbeat.py",
    "test_api.py",
    "test_resume.py",
    "test_faults.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def synthetic_mnist(tmp_path: Path) -> SyntheticMnist:
    """Tiny MNIST-format files (200 train / 50 test) in a tmp folder, and settings whose
    `data.mirrors` is that folder and whose `data.files` md5s match them."""
    folder = tmp_path / "mirror"
    md5s = write_synthetic_mnist(folder, n_train=200, n_test=50, seed=0)
    return SyntheticMnist(folder=folder, md5s=md5s, settings=synthetic_settings(folder, md5s))


# Training, tracking and evaluation tests: a tiny learnable dataset, a small config, a temp MLflow store.
from training_fixtures import mlflow_store, tiny_data, tiny_settings  # noqa: E402, F401
