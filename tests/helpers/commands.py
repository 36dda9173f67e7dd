"""Running a command the way the DVC tests need: its output through files, not pipes.

`dvc queue start` leaves daemon workers behind that inherit the command's stdout and stderr. With
pipes (`capture_output=True`), `subprocess.run` then waits for EOF until every worker has exited,
long after `dvc` itself has, and a worker that lingers hangs the test (seen in CI). A file has no EOF
to wait for: the call returns when the command exits.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path


def run_to_files(
    args: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(args)` with stdout and stderr read back from temp files once it exits."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(args, cwd=cwd, env=dict(env), stdout=out, stderr=err, timeout=timeout)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(done.args, done.returncode, out.read(), err.read())
