"""What a training prints is the pipeline's own: no TensorFlow start-up notice, no MLflow notes.
A real tiny training that logs its model, in its own process (the 2-job sweep's output is checked
the same way in tests/test_sweep.py)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.process_runs import LIBRARY_NOISE, make_project, run_training


def test_a_training_prints_no_library_notice(tmp_path: Path):
    root, data = make_project(tmp_path, n_train=200)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tiny = ["model.hidden_units=[8]", "train.epochs=1", "tracking.log_model=true", "eval.mc_samples=0"]
    done = run_training(root, uri, *data, *tiny)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "epoch 1 " in output  # the pipeline's own lines are there
    assert not [noise for noise in LIBRARY_NOISE if noise in output], output[-5000:]
    assert (root / "outputs" / "run" / "model.keras").is_file()


def test_the_filter_drops_only_the_noise_and_keeps_the_other_lines_in_order(capfd):
    """What the first TensorFlow import writes to file descriptor 2 (C++ included) passes, but the notice."""
    import os

    from pipeline.core.numerics import stderr_without

    with stderr_without((b"oneDNN custom operations are on",)):
        os.write(2, b"first\nI0000 port.cc:153] oneDNN custom operations are on. You may see...\nsecond\n")
    assert capfd.readouterr().err == "first\nsecond\n"
