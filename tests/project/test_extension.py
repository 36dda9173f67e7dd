"""A new experiment in one place: in a copy of the project, a toy model (one module + one YAML), a
toy per-epoch metric and a toy test metric are added by writing only the files docs/architecture.md
names for each ("Where new things go"); then a tiny training and a tiny `dvc repro` find all three
in the history, the DVC metrics, MLflow and the report."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.dvc_repo import DVC, LABELS, git, make_repo, run

RUN = next(label for label in LABELS if label.startswith("rate_0.5_"))  # a dropout run of the matrix

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

TOY_MODEL = '''"""A toy model: the pixels rescaled, then the shared dense head."""

from __future__ import annotations

import math

from pipeline.core.config import ModelConfig
from pipeline.model.blocks import dense_head


class Config(ModelConfig):
    scale: float


def build_model(cfg, image_shape, num_classes, seed):
    import keras

    inputs = keras.Input(shape=(math.prod(image_shape),), name="inputs")
    x = keras.layers.Rescaling(cfg.scale, name="rescale")(inputs)
    return keras.Model(inputs, dense_head(x, cfg, num_classes, seed), name="toy")
'''
TOY_YAML = """name: toy
scale: 0.5
hidden_units: [8]
activation: relu
dropout: {rate: 0.5, impl: keras, input_rate: 0.0}
max_norm: null
"""
# The mean top-class probability: what a batch adds is its sum over the batch's examples.
EPOCH_METRIC = """    EpochMetric(
        "confidence", "conf", lambda tf, batch: tf.reduce_sum(tf.reduce_max(batch.probabilities, axis=-1)),
        shown=Shown("val confidence", at=11),
    ),"""
TEST_METRIC = """    TestMetric(
        "test_top2_accuracy",
        lambda s: float(np.mean((np.argsort(s.probs, axis=1)[:, -2:] == s.labels[:, None]).any(axis=1))),
        Shown("test top-2 acc", at=12),
    ),"""


def places() -> dict[str, set[str]]:
    """The files docs/architecture.md names under "Where new things go", per kind of addition."""
    section = (ROOT / "docs" / "architecture.md").read_text().split("## Where new things go", 1)[1]
    found = {}
    for kind in ("A new model", "A new per-epoch metric", "A new test metric"):
        bullet = section.split(f"- **{kind}**", 1)[1].split("\n- **", 1)[0]
        found[kind] = set(re.findall(r"`((?:pipeline|conf)/[\w/<>]+\.(?:py|yaml))`", bullet))
    return found


def append_to_tuple(path: Path, name: str, entry: str) -> None:
    """Add `entry` as the last item of the tuple assigned to `name` in `path`."""
    text = path.read_text()
    start = text.index(f"\n{name}: ")
    end = text.index("\n)\n", start)
    path.write_text(text[:end] + "\n" + entry + text[end:])


def test_a_toy_model_epoch_metric_and_test_metric_in_the_places_the_architecture_page_names(
    tmp_path_factory: pytest.TempPathFactory,
):
    named = places()
    model, epoch, test = named["A new model"], named["A new per-epoch metric"], named["A new test metric"]
    assert {"pipeline/model/<name>.py", "conf/model/<name>.yaml"} <= model
    assert "pipeline/training/epoch_metrics.py" in epoch
    assert "pipeline/evaluation/scorecard.py" in test

    repo = make_repo(tmp_path_factory.mktemp("extension"))
    (repo / "pipeline/model/toy.py").write_text(TOY_MODEL)
    (repo / "conf/model/toy.yaml").write_text(TOY_YAML)
    append_to_tuple(repo / "pipeline/training/epoch_metrics.py", "EPOCH_METRICS", EPOCH_METRIC)
    append_to_tuple(repo / "pipeline/evaluation/scorecard.py", "TEST_METRICS", TEST_METRIC)
    written = set(git(repo, "status", "--porcelain", "--untracked-files=all").split()[1::2])
    allowed = {p.replace("<name>", "toy") for p in model | epoch | test}
    assert written == {"pipeline/model/toy.py", "conf/model/toy.yaml", "pipeline/training/epoch_metrics.py",
                       "pipeline/evaluation/scorecard.py"} and written <= allowed  # fmt: skip

    # The DVC pipeline on the toy model: the default model of the copy's conf/, then `dvc repro`.
    config = repo / "conf" / "config.yaml"
    defaults = re.subn(r"(?m)^(\s*)- model: mlp$", r"\1- model: toy", config.read_text())
    assert defaults[1] == 1, "conf/config.yaml of the copy names no `- model: mlp` default"
    config.write_text(defaults[0])
    run(repo, sys.executable, "-m", "pipeline.core.params")
    repro = run(repo, DVC, "repro")
    assert "val_conf " in repro.stdout + repro.stderr  # the epoch lines
    assert "val_confidence" in pd.read_csv(repo / f"plots/history/{RUN}.csv").columns
    assert 0 < json.loads((repo / f"metrics/train/{RUN}.json").read_text())["val_confidence"] <= 1
    assert 0 < json.loads((repo / f"metrics/eval/{RUN}.json").read_text())["test_top2_accuracy"] <= 1
    report = (repo / "reports/comparison.md").read_text()
    assert "val confidence" in report and "test top-2 acc" in report
    row = json.loads((repo / "reports/comparison.json").read_text())["rows"][0]
    assert row["test_top2_accuracy_mean"] is not None and row["val_confidence_mean"] is not None

    # A tiny training with the Hydra app (on the data `dvc repro` made), evaluated as its job ends.
    done = run(
        repo, sys.executable, "-m", "pipeline.train", "model=toy", "model.scale=0.25", "train.epochs=2"
    )
    assert "val_conf " in done.stdout + done.stderr
    history = pd.read_csv(next((repo / "outputs").glob("*/*/history.csv")))
    assert {"confidence", "val_confidence"} <= set(history.columns)
    assert history["val_confidence"].between(0.1, 1.0).all()

    with sqlite3.connect(repo / "mlflow.db") as db:
        logged = {key for (key,) in db.execute("SELECT DISTINCT key FROM metrics")}
        trainings = "SELECT DISTINCT run_uuid FROM metrics WHERE key = 'val_confidence'"
        of_trainings = f"FROM params WHERE run_uuid IN ({trainings}) AND key ="
        models = {value for (value,) in db.execute(f"SELECT value {of_trainings} 'model.name'")}
        scales = {value for (value,) in db.execute(f"SELECT value {of_trainings} 'model.scale'")}
        steps = db.execute("SELECT COUNT(DISTINCT step) FROM metrics WHERE key = 'val_confidence'").fetchone()
    assert {"confidence", "val_confidence", "test_top2_accuracy"} <= logged
    assert models == {"toy"} and scales == {"0.5", "0.25"} and steps[0] == 2  # a step per epoch
