"""The paper's training recipe in config: momentum, schedules, max-norm, early stopping do what they say."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import yaml

from pipeline.core.config import load_settings
from pipeline.core.errors import ConfigError
from pipeline.core.params import compose_config
from pipeline.model.mlp import build_model
from pipeline.training.loop import build_and_fit, compile_model
from pipeline.training.recipe import build_optimizer, early_stopping, steps_per_epoch
from tests.helpers.training_fixtures import as_float, make_tiny_data, tiny_settings_with

SGD = ["train.optimizer=sgd", "train.learning_rate=0.1"]


def _lr_at(optimizer: keras.optimizers.Optimizer, step: int) -> float:
    """The learning rate the optimizer uses at optimizer step `step` (0-based)."""
    optimizer.iterations.assign(step)
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def test_sgd_gets_the_configured_momentum_and_nesterov():
    settings = tiny_settings_with(*SGD, "train.momentum=0.95", "train.nesterov=true")
    optimizer = build_optimizer(settings.train, epoch_steps=10)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.momentum == 0.95 and optimizer.nesterov is True
    plain = build_optimizer(tiny_settings_with(*SGD).train, epoch_steps=10)
    assert plain.momentum == 0.0 and plain.nesterov is False


def test_the_default_keeps_a_constant_learning_rate():
    optimizer = build_optimizer(tiny_settings_with(*SGD).train, epoch_steps=10)
    assert [_lr_at(optimizer, k) for k in (0, 10, 1000)] == pytest.approx([0.1, 0.1, 0.1])


def test_exponential_decay_multiplies_the_rate_by_lr_decay_each_epoch_smoothly():
    cfg = tiny_settings_with(*SGD, "train.lr_schedule=exponential", "train.lr_decay=0.5").train
    optimizer = build_optimizer(cfg, epoch_steps=10)
    assert _lr_at(optimizer, 0) == pytest.approx(0.1)
    assert _lr_at(optimizer, 5) == pytest.approx(0.1 * 0.5**0.5)  # half an epoch
    assert _lr_at(optimizer, 10) == pytest.approx(0.05)
    assert _lr_at(optimizer, 30) == pytest.approx(0.1 * 0.5**3)


def test_step_decay_drops_the_rate_every_lr_decay_epochs_and_holds_it_between():
    cfg = tiny_settings_with(
        *SGD, "train.lr_schedule=step", "train.lr_decay=0.1", "train.lr_decay_epochs=2"
    ).train
    optimizer = build_optimizer(cfg, epoch_steps=10)
    rates = [_lr_at(optimizer, k) for k in (0, 19, 20, 39, 40)]
    assert rates == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])


def test_training_counts_epochs_in_optimizer_steps_for_the_schedule(tiny_data):
    # 320 training images in batches of 16 = 20 steps an epoch; after 3 epochs the rate is 0.1 * 0.5**3.
    settings = tiny_settings_with(*SGD, "train.lr_schedule=step", "train.lr_decay=0.5")
    model = build_and_fit(settings, tiny_data).model
    assert steps_per_epoch(len(tiny_data.x_train), settings.train.batch_size) == 20
    assert int(model.optimizer.iterations) == 60
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.0125)


def test_max_norm_bounds_every_hidden_layers_column_norms_after_a_step():
    settings = tiny_settings_with("model.hidden_units=[32,32,32]", "model.max_norm=0.5", *SGD[:1])
    # A huge learning rate, so one unconstrained step would push the norms far past 0.5.
    settings = settings.model_copy(
        update={"train": settings.train.model_copy(update={"learning_rate": 50.0, "epochs": 1})}
    )
    data = make_tiny_data(n_train=64, n_val=16, n_test=16)
    model = build_model(settings.model, image_shape=(28, 28), num_classes=10, seed=0)
    compile_model(model, settings.train)
    model.fit(as_float(data.x_train), data.y_train, batch_size=64, epochs=1, verbose=0)
    hidden = [layer for layer in model.layers if layer.name.startswith("hidden_")]
    assert len(hidden) == 3
    for layer in hidden:
        norms = np.linalg.norm(keras.ops.convert_to_numpy(layer.kernel), axis=0)
        assert norms.max() <= 0.5 + 1e-5, layer.name
    # Without the constraint the same step leaves some column far longer: the bound is the constraint's.
    free = build_model(settings.model.model_copy(update={"max_norm": None}), (28, 28), 10, seed=0)
    compile_model(free, settings.train)
    free.fit(as_float(data.x_train), data.y_train, batch_size=64, epochs=1, verbose=0)
    assert np.linalg.norm(keras.ops.convert_to_numpy(free.get_layer("hidden_1").kernel), axis=0).max() > 1.0


def test_early_stopping_stops_on_a_rising_validation_loss_and_restores_the_best_weights(tiny_data):
    # Labels of the validation split shuffled: validation loss soon rises while training loss falls.
    rng = np.random.default_rng(0)
    data = tiny_data.__class__(**{**tiny_data.__dict__, "y_val": rng.permutation(tiny_data.y_val)})
    settings = tiny_settings_with(
        "train.epochs=40", "train.early_stopping_patience=2", "train.learning_rate=0.01"
    )
    result = build_and_fit(settings, data)
    history = result.history
    assert len(history) < 40
    best = int(history["val_loss"].idxmin())
    assert len(history) == best + 1 + 2  # stopped `patience` epochs after the best one
    restored = result.model.evaluate(as_float(data.x_val), data.y_val, verbose=0, return_dict=True)["loss"]
    assert restored == pytest.approx(history["val_loss"].iloc[best], rel=1e-4)
    assert early_stopping(tiny_settings_with().train) == []


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        (["train.momentum=0.9"], "train.momentum", "applies to train.optimizer=sgd only"),
        (["train.optimizer=sgd", "train.nesterov=true"], "train.nesterov", "needs train.momentum > 0"),
        (["train.momentum=1.0", "train.optimizer=sgd"], "train.momentum", "less than 1"),
        (["train.lr_schedule=cosine"], "train.lr_schedule", "'none', 'exponential' or 'step'"),
        (["train.lr_schedule=step", "train.lr_decay=1.5"], "train.lr_decay", "less than or equal to 1"),
        (["train.lr_schedule=step", "train.lr_decay=0"], "train.lr_decay", "greater than 0"),
        (["train.lr_decay_epochs=0"], "train.lr_decay_epochs", "greater than 0"),
        (["train.lr_decay=0.9"], "train.lr_decay", "no effect with train.lr_schedule=none"),
        (["train.early_stopping_patience=0"], "train.early_stopping_patience", "greater than 0"),
        (["train.early_stopping_patience=3", "train.resume=last"], "train.resume", "cannot resume a run"),
        (["eval.mc_curve=[1,5,50]"], "eval.mc_curve", "eval.mc_samples = 30"),
        (["eval.mc_curve=[5,1]"], "eval.mc_curve", "increasing and distinct"),
    ],
)
def test_bad_recipe_values_name_key_value_and_rule(overrides, key, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(yaml.safe_load(compose_config(overrides)))
    text = str(caught.value)
    assert f"  {key} = " in text and message in text, text
