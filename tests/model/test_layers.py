"""`ScratchDropout` behaves like `keras.layers.Dropout`: same statistics, identity at inference, seeded.

`rate` is the probability of DROPPING a unit (Keras' convention; the paper's keep probability is 1 - rate).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline.model.layers import ScratchDropout

IMPLS = [ScratchDropout, keras.layers.Dropout]
SIGMAS = 5  # tolerance in standard deviations: a false failure is a ~1e-6 event


def _inputs(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Positive, non-zero activations, so a zero output always means a dropped unit."""
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=shape).astype("float32")


def _numpy(tensor: object) -> np.ndarray:
    return keras.ops.convert_to_numpy(tensor)


@pytest.mark.parametrize("impl", IMPLS, ids=lambda impl: impl.__name__)
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_training_statistics_match_dropout_theory(impl: type, rate: float) -> None:
    x = _inputs((1000, 1000))
    out = _numpy(impl(rate, seed=1)(x, training=True))

    n = x.size
    assert abs(np.mean(out == 0) - rate) < SIGMAS * np.sqrt(rate * (1 - rate) / n)
    mean_sd = np.sqrt(np.mean(x.astype(np.float64) ** 2) * rate / (1 - rate) / n)
    assert abs(out.mean(dtype=np.float64) - x.mean(dtype=np.float64)) < SIGMAS * mean_sd
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / (1 - rate), rtol=1e-6)


@pytest.mark.parametrize("impl", IMPLS, ids=lambda impl: impl.__name__)
def test_inference_is_the_identity(impl: type) -> None:
    x = _inputs((32, 16))
    layer = impl(0.5, seed=1)
    np.testing.assert_array_equal(_numpy(layer(x, training=False)), x)
    np.testing.assert_array_equal(_numpy(layer(x)), x)


@pytest.mark.parametrize("impl", IMPLS, ids=lambda impl: impl.__name__)
def test_the_same_seed_gives_the_same_mask_and_each_call_a_new_one(impl: type) -> None:
    x = _inputs((64, 64))
    first, second = impl(0.5, seed=7), impl(0.5, seed=7)
    a1, b1 = _numpy(first(x, training=True)), _numpy(second(x, training=True))
    a2 = _numpy(first(x, training=True))
    np.testing.assert_array_equal(a1, b1)
    assert not np.array_equal(a1, a2)
    assert not np.array_equal(a1, _numpy(impl(0.5, seed=8)(x, training=True)))


@pytest.mark.parametrize("impl", IMPLS, ids=lambda impl: impl.__name__)
def test_noise_shape_shares_one_mask_along_its_unit_axes(impl: type) -> None:
    x = _inputs((16, 5, 12))
    out = _numpy(impl(0.5, noise_shape=(None, 1, 12), seed=3)(x, training=True))
    kept = out != 0
    assert (kept == kept[:, :1, :]).all()  # the same units dropped at every step of a sequence
    assert 0 < kept.mean() < 1 and not (kept == kept[:1]).all()  # but masks differ across the batch
    np.testing.assert_allclose(out[kept], x[kept] * 2, rtol=1e-6)


def test_a_noise_shape_of_another_rank_is_refused() -> None:
    with pytest.raises(ValueError, match="noise_shape"):
        ScratchDropout(0.5, noise_shape=(None, 1))(_inputs((2, 3, 4)), training=True)


def test_the_autodiff_gradient_is_the_mask_times_the_scale() -> None:
    rate = 0.3
    x = tf.Variable(_inputs((128, 64)))
    upstream = tf.constant(np.random.default_rng(2).normal(size=(128, 64)).astype("float32"))
    with tf.GradientTape() as tape:
        out = ScratchDropout(rate, seed=5)(x, training=True)
        loss = tf.reduce_sum(out * upstream)
    grad = tape.gradient(loss, x).numpy()
    mask = out.numpy() != 0
    assert 0 < mask.mean() < 1
    np.testing.assert_allclose(grad, upstream.numpy() * mask / (1 - rate), rtol=1e-6)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 2.0])
def test_a_rate_outside_zero_to_one_is_refused_by_value(rate: float) -> None:
    with pytest.raises(ValueError, match=str(rate)):
        ScratchDropout(rate)


def test_rate_zero_is_the_identity_in_training() -> None:
    x = _inputs((8, 8))
    np.testing.assert_array_equal(_numpy(ScratchDropout(0.0, seed=1)(x, training=True)), x)


def test_the_config_round_trips_through_keras_serialization() -> None:
    layer = ScratchDropout(0.25, noise_shape=(None, 1, 4), seed=9, name="drop")
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "dropout_lab>ScratchDropout"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(restored, ScratchDropout)
    assert (restored.rate, restored.noise_shape, restored.seed, restored.name) == (
        0.25,
        (None, 1, 4),
        9,
        "drop",
    )
