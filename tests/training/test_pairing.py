"""Trainings that differ only in dropout start from the same weights and see the same batches for
the same seed: what lets the comparison pair each rate with rate 0 seed by seed (the DVC matrix's
items `train@0.0-42` and `train@0.5-42`). Measured inside the training itself, as
`build_and_fit` runs it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pipeline.training import batches, loop
from tests.helpers.training_fixtures import make_tiny_data, tiny_settings_with


def _start_of_training(monkeypatch: pytest.MonkeyPatch, *overrides: str) -> tuple[dict[str, Any], list[Any]]:
    """The weights of each layer when fitting starts, and every epoch's batch order, of one training."""
    weights: dict[str, list[np.ndarray]] = {}
    orders: list[np.ndarray] = []
    fit, order_tensor = loop.fit, batches.order_tensor

    def recording_fit(model: Any, *args: Any, **kwargs: Any) -> Any:
        weights.update({layer.name: layer.get_weights() for layer in model.layers if layer.get_weights()})
        return fit(model, *args, **kwargs)

    def recording_order(*args: Any, **kwargs: Any) -> Any:
        order = order_tensor(*args, **kwargs)
        orders.append(np.asarray(order))
        return order

    monkeypatch.setattr(loop, "fit", recording_fit)
    monkeypatch.setattr(batches, "order_tensor", recording_order)
    settings = tiny_settings_with("model.hidden_units=[16,8]", "train.epochs=2", *overrides)
    loop.build_and_fit(settings, make_tiny_data(n_train=96, n_val=32, n_test=32))
    monkeypatch.undo()
    return weights, orders


@pytest.mark.parametrize("impl", ["keras", "scratch"])
def test_rate_0_and_a_dropout_rate_share_initial_weights_and_batch_order_for_a_seed(
    monkeypatch: pytest.MonkeyPatch, impl: str
):
    plain = _start_of_training(monkeypatch, "model.dropout.rate=0.0", "train.seed=42")
    dropped = _start_of_training(monkeypatch, "model.dropout.rate=0.5", f"model.dropout.impl={impl}",
                                 "train.seed=42")  # fmt: skip
    other_seed = _start_of_training(monkeypatch, "model.dropout.rate=0.5", f"model.dropout.impl={impl}",
                                    "train.seed=43")  # fmt: skip

    (plain_weights, plain_orders), (dropped_weights, dropped_orders) = plain, dropped
    assert set(plain_weights) == set(dropped_weights) == {"hidden_1", "hidden_2", "output"}
    for name, arrays in plain_weights.items():
        for ours, theirs in zip(arrays, dropped_weights[name], strict=True):
            np.testing.assert_array_equal(ours, theirs)
    assert len(plain_orders) == len(dropped_orders) == 2  # one order per epoch
    for ours, theirs in zip(plain_orders, dropped_orders, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert not np.array_equal(plain_orders[0], plain_orders[1])  # a new order every epoch

    # and the seed is what decides them: another seed, other weights and another order
    other_weights, other_orders = other_seed
    assert not np.array_equal(other_weights["hidden_1"][0], plain_weights["hidden_1"][0])
    assert not np.array_equal(other_orders[0], plain_orders[0])
