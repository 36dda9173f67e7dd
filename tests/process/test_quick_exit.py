"""A stage's quick exit loses nothing a normal exit would keep: threads, atexit, logs, streams, status."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pipeline.core.paths import CONF_DIR

SCRIPT = textwrap.dedent(
    """
    import atexit, logging, sys, threading, time
    from pathlib import Path
    from pipeline.process.exit import exit_without_teardown

    out = Path(sys.argv[1])
    logging.basicConfig(filename=out / "run.log", level=logging.INFO)
    logging.getLogger("stage").info("logged last")
    atexit.register(lambda: (out / "atexit").write_text("ran"))

    def late_writer():
        time.sleep(0.5)
        (out / "thread").write_text("done")

    threading.Thread(target=late_writer).start()
    sys.stdout.write("unflushed output")
    exit_without_teardown(3)
    """
)


def test_quick_exit_waits_for_threads_runs_atexit_and_flushes(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=CONF_DIR.parent,  # the checkout, whose `pipeline` this tests
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3
    assert done.stdout == "unflushed output"
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert "logged last" in (tmp_path / "run.log").read_text()


LOKY_SCRIPT = textwrap.dedent(
    """
    import sys
    from joblib import Parallel, delayed
    from pipeline.process.exit import exit_without_teardown

    squares = Parallel(n_jobs=2, backend="loky")(delayed(pow)(i, 2) for i in range(4))
    print(sum(squares))
    exit_without_teardown(0)
    """
)


def test_quick_exit_stops_a_joblib_executor_as_a_normal_exit_does(tmp_path: Path):
    """A Hydra sweep's parent keeps joblib's worker pool: its manager thread stops in a threading
    exit hook, which must run before the threads are joined (else the process never ends)."""
    done = subprocess.run(
        [sys.executable, "-c", LOKY_SCRIPT],
        cwd=CONF_DIR.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,  # a hang guard, not a speed limit
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "14"
