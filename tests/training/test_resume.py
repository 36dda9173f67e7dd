"""Checkpoint and resume: a training stopped after epoch 2 and resumed ends exactly like one never stopped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.model.mlp import build_model
from pipeline.training import checkpoint, resume
from pipeline.training.loop import build_and_fit, compile_model
from tests.helpers.training_fixtures import tiny_settings_with


def _target(folder: Path) -> checkpoint.Target:
    return checkpoint.Target(folder, run_id="r" * 32, config_key="k", source="test")


CNN = ("model=cnn", "model.filters=[4,8]", "model.feature_dropout.rate=0.2")


@pytest.mark.parametrize(
    ("impl", "model"), [("keras", ()), ("scratch", ()), ("keras", CNN), ("scratch", CNN)], ids=str
)
def test_two_epochs_then_a_resume_to_four_equal_four_uninterrupted(
    tiny_data, tmp_path: Path, impl: str, model: tuple[str, ...]
):
    same = ("model.dropout.rate=0.3", f"model.dropout.impl={impl}", *model)
    four = tiny_settings_with(*same, "train.epochs=4")
    two = tiny_settings_with(*same, "train.epochs=2")
    straight = build_and_fit(four, tiny_data)

    target = _target(tmp_path / "run")
    build_and_fit(two, tiny_data, save_to=target)
    saved = checkpoint.latest(target.folder)
    assert saved is not None and saved.epoch == 2 and len(saved.history) == 2
    resumed = build_and_fit(four, tiny_data, start=saved, save_to=target)  # a new model object

    for ours, theirs in zip(resumed.model.get_weights(), straight.model.get_weights(), strict=True):
        assert np.array_equal(ours, theirs)
    assert resumed.history.equals(straight.history)
    assert checkpoint.latest(target.folder).epoch == 4
    assert sorted(p.name for p in target.folder.iterdir()) == ["epoch-0004", "latest.json"]


def test_a_checkpoint_holds_the_optimizer_and_the_dropout_generators(tiny_data, tmp_path: Path):
    """Without them a resume would differ: Adam's moments and the masks' stream both carry over."""
    settings = tiny_settings_with("model.dropout.rate=0.3", "train.epochs=1")
    target = _target(tmp_path / "run")
    result = build_and_fit(settings, tiny_data, save_to=target)
    saved = checkpoint.latest(target.folder)
    states = checkpoint.rng_states(result.model)
    assert sorted(states) == ["dropout_1/0"]  # one dropout layer in the tiny model: its generator

    fresh = build_model(settings.model, seed=settings.train.seed)
    compile_model(fresh, settings.train)
    checkpoint.restore(fresh, saved)
    for ours, theirs in zip(fresh.optimizer.variables, result.model.optimizer.variables, strict=True):
        assert np.array_equal(ours.numpy(), theirs.numpy())
    assert int(fresh.optimizer.iterations.numpy()) > 0
    assert np.array_equal(checkpoint.rng_states(fresh)["dropout_1/0"], states["dropout_1/0"])


def test_which_checkpoint_a_resume_takes(tiny_data, tmp_path: Path):
    settings = tiny_settings_with("model.dropout.rate=0.3", "train.epochs=1")
    root = tmp_path / "checkpoints"
    older, newer, other = "a" * 32, "b" * 32, "c" * 32
    for run_id, key, source in [(older, "k", "hydra"), (newer, "k", "dvc"), (other, "x", "hydra")]:
        build_and_fit(settings, tiny_data, save_to=checkpoint.Target(root / run_id, run_id, key, source))

    assert resume.choose(None, "k", under_dvc=False, root=root) == resume.Start()
    assert resume.choose("last", "k", under_dvc=False, root=root).run_id == newer
    dvc = resume.choose(None, "k", under_dvc=True, root=root)
    assert dvc.run_id is None and dvc.checkpoint.run_id == newer  # a new run, from that checkpoint
    assert resume.choose(older, "k", under_dvc=False, root=root).checkpoint.epoch == 1
    with pytest.raises(resume.ResumeError, match="another config"):
        resume.choose(other, "k", under_dvc=False, root=root)
    with pytest.raises(resume.ResumeError, match="no checkpoint"):
        resume.choose("d" * 32, "k", under_dvc=False, root=root)
    with pytest.raises(resume.ResumeError, match="no checkpoint of this config"):
        resume.choose("last", "y", under_dvc=False, root=root)
