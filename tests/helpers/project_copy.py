"""A copy of this project's code and config (what git lists, committed or not, minus ignored files)
for tests that run DVC in a repo of their own. The real pipeline's committed results and lock are
left out: they are not the copy's, which runs on synthetic data."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = ("bench/", "tests/", "metrics/", "plots/", "reports/", "data/", "dvc.lock")


def copy_project(dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in listed:
        if (ROOT / name).is_file() and not name.startswith(SKIPPED):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest
