"""The download and preprocess stages end to end, as the user and DVC run them (subprocesses)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.params import compose_config
from pipeline.data.fetch import MIRROR_ENV
from pipeline.data.processed import load_processed
from tests.helpers.synthetic import FILES, SyntheticMnist, synthetic_overrides

ROOT = Path(__file__).resolve().parents[2]


def run_stage(
    stage: str, root: Path, *args: str, mirror: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline.<stage> args` with `root` as project root and working directory."""
    env = {key: value for key, value in os.environ.items() if key != MIRROR_ENV}
    env["DROPOUT_LAB_ROOT"] = str(root)
    if mirror is not None:
        env[MIRROR_ENV] = str(mirror)
    hydra_dir = f"hydra.run.dir={root / 'hydra' / stage}"
    return subprocess.run(
        [sys.executable, "-m", f"pipeline.{stage}", *args, hydra_dir],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done


def _refused(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for text in expected:
        assert text in done.stderr


def _raw_files(root: Path) -> list[str]:
    folder = root / "data" / "raw" / "mnist"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_then_preprocess_with_overrides(synthetic_mnist: SyntheticMnist, tmp_path: Path):
    overrides = synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s)
    _ok(run_stage("download", tmp_path, *overrides))
    assert _raw_files(tmp_path) == sorted(FILES.values())
    _ok(run_stage("preprocess", tmp_path, "data.train_size=100"))
    data = load_processed(tmp_path / "data" / "processed" / "mnist.npz")
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (100, 40, 50)
    assert (tmp_path / "data" / "processed" / "mnist.json").is_file()


def test_the_dvc_way_params_yaml_as_the_config(synthetic_mnist: SyntheticMnist, tmp_path: Path):
    overrides = synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s)
    (tmp_path / "params.yaml").write_text(compose_config(overrides))
    dvc_args = ("--config-dir", ".", "--config-name", "params")
    _ok(run_stage("download", tmp_path, *dvc_args))
    _ok(run_stage("preprocess", tmp_path, *dvc_args))
    first = (tmp_path / "data" / "processed" / "mnist.npz").read_bytes()
    _ok(run_stage("preprocess", tmp_path, *dvc_args))
    assert (tmp_path / "data" / "processed" / "mnist.npz").read_bytes() == first, "not reproducible"


def test_an_override_that_would_rewrite_dvc_outputs_is_refused_with_the_dvc_way(
    synthetic_mnist: SyntheticMnist, tmp_path: Path
):
    """In a project with a DVC pipeline, the data stages run by hand write DVC's outputs only from
    params.yaml's settings; other settings would silently change the committed results."""
    overrides = synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s)
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "params.yaml").write_text(compose_config(overrides))  # what DVC made them with
    _ok(run_stage("download", tmp_path, *overrides))
    _ok(run_stage("preprocess", tmp_path, *overrides))  # the same settings: the same files again
    made = {p: p.read_bytes() for p in (tmp_path / "data" / "processed").iterdir()}

    done = run_stage("preprocess", tmp_path, *overrides, "data.train_size=100")
    _refused(
        done,
        "error: data.train_size=100: `python -m pipeline.preprocess` would rewrite "
        "data/processed/mnist.json, data/processed/mnist.npz",
        "params.yaml's data.train_size=null",
        "dvc exp run -S data.train_size=100",
        "python -m pipeline.train data.train_size=100",
    )
    assert len(done.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in (tmp_path / "data" / "processed").iterdir()} == made

    wrong = synthetic_overrides(synthetic_mnist.folder, {**synthetic_mnist.md5s, "test_labels": "0" * 32})
    _refused(
        run_stage("download", tmp_path, *wrong), "data.files.test_labels.md5=", "would rewrite data/raw/mnist"
    )


@pytest.mark.slow
def test_the_environment_mirror_is_tried_first(synthetic_mnist: SyntheticMnist, tmp_path: Path):
    copy = shutil.copytree(synthetic_mnist.folder, tmp_path / "copy")
    overrides = synthetic_overrides(synthetic_mnist.folder, synthetic_mnist.md5s)
    done = _ok(run_stage("download", tmp_path, *overrides, mirror=copy))
    assert f"fetched and verified from {copy / FILES['train_images']}" in done.stdout + done.stderr
    assert str(synthetic_mnist.folder) not in done.stdout + done.stderr


@pytest.mark.slow
def test_every_source_failing_is_one_clear_error(synthetic_mnist: SyntheticMnist, tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_stage("download", tmp_path, *synthetic_overrides(empty, synthetic_mnist.md5s))
    _refused(
        done, "error: could not get a verified", f"{empty / FILES['train_images']}: not found", MIRROR_ENV
    )
    assert _raw_files(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["download", "preprocess"])
def test_a_bad_value_is_refused_with_its_key(stage: str, tmp_path: Path):
    _refused(run_stage(stage, tmp_path, "data.val_fraction=1.5"), "data.val_fraction = 1.5")


@pytest.mark.slow
def test_preprocess_before_download_points_at_download(tmp_path: Path):
    _refused(run_stage("preprocess", tmp_path), "python -m pipeline.download")


@pytest.mark.slow
def test_preprocess_refuses_a_train_size_beyond_the_data(synthetic_mnist: SyntheticMnist, tmp_path: Path):
    shutil.copytree(synthetic_mnist.folder, tmp_path / "data" / "raw" / "mnist")
    _refused(run_stage("preprocess", tmp_path, "data.train_size=161"), "data.train_size = 161")
    assert not (tmp_path / "data" / "processed" / "mnist.npz").exists()
