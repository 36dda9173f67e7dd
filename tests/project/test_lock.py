"""Installs come from uv.lock: it must agree with pyproject.toml, and the MLflow Projects
environment's requirements must be the lock's own export."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")


def _lock_check(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(UV), "lock", "--check", "--offline", "--project", str(project)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_lock_agrees_with_pyproject():
    checked = _lock_check(ROOT)
    assert checked.returncode == 0, checked.stderr


def test_a_requirement_the_lock_does_not_satisfy_is_caught(tmp_path: Path):
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"numpy>=1.26,<3"', '"numpy>=1.26,<2.4"'))
    assert _lock_check(tmp_path).returncode != 0


def test_the_mlflow_project_environment_is_the_locks_export():
    exported = subprocess.run(
        [str(UV), "export", "--frozen", "--no-emit-project", "--format", "requirements-txt", "--quiet",
         "--project", str(ROOT)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    committed = (ROOT / "requirements.lock.txt").read_text()
    body = lambda text: [line for line in text.splitlines() if not line.startswith("#")]  # noqa: E731
    assert body(committed) == body(exported), "run `make lock` and commit requirements.lock.txt"
    assert "-r requirements.lock.txt" in (ROOT / "python_env.yaml").read_text()
