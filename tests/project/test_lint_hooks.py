"""The commit hooks of `.pre-commit-config.yaml`, run by pre-commit itself in a throwaway git repo:
a commit with a lint error or unformatted code is stopped and the file fixed, a clean one passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pre_commit(repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=repo, text=True,
        capture_output=True, env={**os.environ, "PRE_COMMIT_HOME": str(home)}, timeout=300,
    )  # fmt: skip


def test_the_hooks_fix_and_stop_a_bad_commit_and_pass_a_clean_one(tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in (".pre-commit-config.yaml", "pyproject.toml"):  # the hooks and ruff's settings
        shutil.copy(ROOT / name, repo / name)
    (repo / ".venv").symlink_to(ROOT / ".venv")  # the hooks run the project's own ruff
    (repo / "module.py").write_text("import os\nvalue=[1,2]\n")  # an unused import, unformatted
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)

    stopped = _pre_commit(repo, tmp_path / "cache")
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "ruff check" in stopped.stdout and "ruff format" in stopped.stdout
    assert (repo / "module.py").read_text() == "value = [1, 2]\n"

    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    passed = _pre_commit(repo, tmp_path / "cache")
    assert passed.returncode == 0, passed.stdout + passed.stderr
