"""`make ui`: the MLflow UI, opened on the experiment's training runs, started lean.

    python -m pipeline.ui [--port 5000]

With the embedded store (the default), it starts `mlflow ui` on 127.0.0.1 with one worker and MLflow's
job-execution workers off (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false: eight ~250 MB processes
otherwise, for GenAI features this project does not use). With a tracking server
(MLFLOW_TRACKING_URI=http://...), it starts nothing: the server already serves the UI.
Either way it prints the URL of the experiment's runs page, and marks the experiment as a
model-training one (MLflow's `mlflow.experimentKind` tag), so the UI opens it on its training runs
rather than on its GenAI overview.

This module talks to the server over its REST API (urllib), so it never imports MLflow.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from pipeline.config import PROJECT_ROOT
from pipeline.errors import UserError
from pipeline.server import stop_group

# MLflow's UI reads this experiment tag (mlflow/server/js: ExperimentKind) to choose the opening page.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
DEFAULT_EXPERIMENT = "dropout-lab"
READY_TIMEOUT_S = 120.0


def lean_server_env() -> dict[str, str]:
    """The environment of a UI server without MLflow's job-execution workers."""
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_RUN_ID", None)
    return env


def _call(base_url: str, method: str, endpoint: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One MLflow REST call, with basic-auth credentials from MLFLOW_TRACKING_USERNAME/PASSWORD."""
    url = f"{base_url}/api/2.0/mlflow/{endpoint}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return {}
        raise UserError(f"{url}: HTTP {error.code} {error.reason}") from None


def runs_page(base_url: str, experiment: str) -> str:
    """The URL of `experiment`'s runs page, after marking it a model-training experiment."""
    found = _call(
        base_url, "GET", f"experiments/get-by-name?{urllib.parse.urlencode({'experiment_name': experiment})}"
    )
    if not found:
        raise UserError(f"no experiment {experiment!r} at {base_url} yet: run a training or sweep first")
    info = found["experiment"]
    tags = {tag["key"]: tag["value"] for tag in info.get("tags", [])}
    if tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING_KIND:
        body = {
            "experiment_id": info["experiment_id"],
            "key": EXPERIMENT_KIND_TAG,
            "value": MODEL_TRAINING_KIND,
        }
        _call(base_url, "POST", "experiments/set-experiment-tag", body)
    # workflowType: the UI's side bar for model training (runs, models), not GenAI's (traces, judges).
    return f"{base_url}/#/experiments/{info['experiment_id']}/runs?workflowType=machine_learning"


def healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


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


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM (kill, a supervisor) stops the UI server as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT)
    args = parser.parse_args(argv)
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"
    try:
        if uri.startswith(("http://", "https://")):
            print(f"MLflow UI (tracking server): {runs_page(uri.rstrip('/'), args.experiment)}")
            return 0
        process = start_ui(uri, args.port)
        try:
            print(f"MLflow UI: {runs_page(f'http://127.0.0.1:{args.port}', args.experiment)}  (Ctrl-C stops)")
            return process.wait()
        finally:
            stop_group(process.pid)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
