"""The per-epoch floor (`bench/floor.py`) computes the recipe's own arithmetic: the default recipe's
epoch (shapes, batches, steps, dropout rates), Adam's update as the project's fused kernel computes
it, and Keras' dropout masks for every unit the config drops at every step."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `bench` is a folder of the checkout, not an installed package
    sys.path.insert(0, str(ROOT))

from bench.floor import Arithmetic, EpochShape, adam_update, draw_mask, epoch_shape, mask_buffers  # noqa: E402
from bench.harness.workspace import settings_for  # noqa: E402

SMALL = EpochShape(
    sizes=(20, 8, 6, 3), train_rows=(5, 5, 2), val_rows=(4, 3), drop=(0.2, 0.5, 0.5), learning_rate=0.01
)


def test_the_floor_epoch_is_the_default_recipes():
    shape = epoch_shape(settings_for(), n_train=48000, n_val=12000, n_features=784, n_classes=10)
    assert shape.sizes == (784, 128, 64, 10)
    assert shape.train_rows == (32,) * 1500  # train.batch_size, one optimizer step each
    assert shape.val_rows == (1000,) * 12  # the project's validation batches
    assert shape.drop == (0.0, 0.5, 0.5)  # no input dropout; model.dropout.rate after each hidden layer
    assert shape.learning_rate == 0.001
    other = epoch_shape(
        settings_for(["model.dropout.input_rate=0.2", "train.batch_size=100"]), 1050, 10, 784, 10
    )
    assert other.train_rows == (100,) * 10 + (50,) and other.drop == (0.2, 0.5, 0.5)


def test_adam_update_is_the_projects_fused_adam():
    import keras

    from pipeline.training.recipe import build_optimizer

    rng = np.random.default_rng(1)
    start = rng.standard_normal((7, 5)).astype(np.float32)
    grads = [rng.standard_normal((7, 5)).astype(np.float32) for _ in range(4)]
    variable = keras.Variable(start)
    optimizer = build_optimizer(settings_for(["train.learning_rate=0.01"]).train, epoch_steps=10)
    mine, m, v, scratch = start.copy(), *(np.zeros_like(start) for _ in range(3))
    for step, grad in enumerate(grads, start=1):
        optimizer.apply_gradients([(grad, variable)])
        adam_update(mine, grad, m, v, scratch, step, lr=0.01)
    assert not np.allclose(mine, start)
    np.testing.assert_allclose(mine, keras.ops.convert_to_numpy(variable), rtol=1e-6, atol=1e-7)


def test_dropout_masks_keep_units_with_probability_one_minus_rate_scaled():
    rng = np.random.Generator(np.random.Philox(0))
    buffers = mask_buffers(1000, 200)
    draw_mask(rng, 0.3, *buffers)
    mask = buffers[2].copy()
    assert mask.dtype == np.float32 and set(np.unique(mask)) == {np.float32(0), np.float32(1 / 0.7)}
    assert abs((mask > 0).mean() - 0.7) < 0.01
    draw_mask(rng, 0.3, *buffers)
    assert not np.array_equal(buffers[2], mask)  # a new mask every step


def test_the_recipe_floor_adds_masks_and_adam_to_the_same_products():
    products, recipe = Arithmetic(SMALL, recipe=False), Arithmetic(SMALL, recipe=True)
    start = products.variables.copy()
    np.testing.assert_array_equal(recipe.variables, start)  # the same arrays to start from
    products.epoch()
    recipe.epoch()
    np.testing.assert_array_equal(products.variables, start)  # products only: nothing updated
    assert recipe.steps == len(SMALL.train_rows) and not np.allclose(recipe.variables, start)
    # One uniform number for every unit of every masked layer's input, at every step (validation: none).
    drawn = sum(rows * width for rows in SMALL.train_rows for width in SMALL.sizes[:3])
    fresh = np.random.Generator(np.random.Philox(0))
    fresh.random(drawn, dtype=np.float32)
    assert next_numbers(recipe.masks_rng) == next_numbers(
        fresh
    )  # the stream is where `drawn` numbers take it
    assert next_numbers(products.masks_rng) == next_numbers(np.random.Generator(np.random.Philox(0)))


def next_numbers(rng: np.random.Generator) -> list[float]:
    return rng.random(8, dtype=np.float32).tolist()


def test_the_weights_the_products_use_are_views_of_the_array_adam_updates():
    arithmetic = Arithmetic(SMALL, recipe=True)
    for layer, weights in enumerate(arithmetic.weights):
        weights[0, 0] = 100.0 + layer
        assert 100.0 + layer in arithmetic.variables
