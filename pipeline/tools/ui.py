"""`make ui`: the MLflow UI, opened on the experiment's training runs, started lean.

    python -m pipeline.tools.ui [--port 5000] [--experiment NAME]

On the embedded store it starts `mlflow ui` on 127.0.0.1 with one worker and MLflow's job-execution
workers off (eight ~250 MB processes otherwise, for GenAI features this project does not use); a
tracking server (MLFLOW_TRACKING_URI=http://...) already serves the UI. Either way it prints the URL
of the experiment's runs page, the experiment tagged as a model-training one so the UI opens it on
its runs rather than its GenAI overview.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from pipeline.core.errors import UserError
from pipeline.core.params import composed_settings
from pipeline.process.exit import reported_as_exit
from pipeline.tools.server import healthy, stop_group
from pipeline.tracking.store import Store
from pipeline.tracking.uri import UI_PORT, resolve_tracking_uri

READY_TIMEOUT_S = 120.0


def lean_server_env() -> dict[str, str]:
    """The environment of a UI server without MLflow's job-execution workers."""
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_RUN_ID", None)
    return env


def runs_page(tracking_uri: str, base_url: str, experiment: str) -> str:
    """The URL of `experiment`'s runs page, after making sure it is tagged a model-training one."""
    exp_id = Store(tracking_uri).model_training_experiment(experiment)
    # workflowType: the UI's side bar for model training (runs, models), not GenAI's (traces, judges).
    return f"{base_url}/#/experiments/{exp_id}/runs?workflowType=machine_learning"


def start_ui(backend_store_uri: str, port: int) -> subprocess.Popen[bytes]:
    """`mlflow ui` on 127.0.0.1:`port`, one worker, no job workers; returns once it answers."""
    base_url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", backend_store_uri,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=lean_server_env(), start_new_session=True)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not healthy(base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_group(process.pid)
            raise UserError(f"mlflow ui did not come up on {base_url}")
        time.sleep(0.5)
    return process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=UI_PORT)
    parser.add_argument("--experiment", help="default: tracking.experiment of conf/")
    args = parser.parse_args(argv)
    with reported_as_exit():  # UserError: one line, exit 2; Ctrl-C 130, SIGTERM 143
        tracking = composed_settings().tracking
        experiment = args.experiment or tracking.experiment
        uri = resolve_tracking_uri(tracking)
        if uri.startswith(("http://", "https://")):
            print(f"MLflow UI (tracking server): {runs_page(uri, uri.rstrip('/'), experiment)}")
            return 0
        process = start_ui(uri, args.port)
        try:
            page = runs_page(uri, f"http://127.0.0.1:{args.port}", experiment)
            print(f"MLflow UI: {page}  (Ctrl-C stops)")
            return process.wait()
        finally:
            stop_group(process.pid)


if __name__ == "__main__":
    sys.exit(main())
