"""What a training prints is the pipeline's own: no TensorFlow start-up notice, no MLflow notes; its
epoch lines as they are (no job label: it runs alone), and its last lines give test accuracy, the
MLflow run and how to open it, and its folder. A real tiny training that logs its model, in its own
process (a sweep's output is checked the same way in tests/launchers/test_sweep.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mlflow import MlflowClient

from tests.helpers.process_runs import LIBRARY_NOISE, make_project, run_training


def test_a_training_prints_its_own_lines_and_ends_with_test_accuracy_run_and_folder(tmp_path: Path):
    root, data = make_project(tmp_path, n_train=200)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tiny = ["model.hidden_units=[8]", "train.epochs=2", "tracking.log_model=true", "eval.mc_samples=3"]
    done = run_training(root, uri, *data, *tiny)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert not [noise for noise in LIBRARY_NOISE if noise in output], output[-5000:]
    folder = root / "outputs" / "run"
    assert (folder / "model.keras").is_file()

    messages = [line.partition("][INFO] - ")[2] for line in done.stdout.splitlines()]
    epochs = [m for m in messages if re.match(r"(\[.*\] )?epoch \d", m)]
    assert [m.split("  ")[0] for m in epochs] == ["epoch 1", "epoch 2"]  # a lone run: no label

    client = MlflowClient(tracking_uri=uri)
    [run] = client.search_runs([client.get_experiment_by_name("dropout-lab").experiment_id])
    run_id, experiment_id = run.info.run_id, run.info.experiment_id
    metrics = json.loads((folder / "eval_metrics.json").read_text())
    accuracy, mc = metrics["test_accuracy"], metrics["mc_accuracy"]
    page = f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{run_id}"
    assert messages[-3:] == [
        f"test accuracy {accuracy:.4f}, MC-dropout accuracy {mc:.4f} (3 passes); gap "
        + messages[-3].partition("; gap ")[2],
        f"MLflow run {run_id}: {page} (start the UI with `make ui`)",  # the store MLFLOW_TRACKING_URI names
        f"files: {folder}",
    ], done.stdout[-3000:]
    assert run.data.metrics["test_accuracy"] == accuracy


def test_the_filter_drops_only_the_noise_and_keeps_the_other_lines_in_order(capfd):
    """What the first TensorFlow import writes to file descriptor 2 (C++ included) passes, but the notice."""
    import os

    from pipeline.core.numerics import stderr_without

    with stderr_without((b"oneDNN custom operations are on",)):
        os.write(2, b"first\nI0000 port.cc:153] oneDNN custom operations are on. You may see...\nsecond\n")
    assert capfd.readouterr().err == "first\nsecond\n"
