"""The NumPy reference dropout: right statistics, right gradient, and the scaling the seed notebook missed.

`rate` is the probability of DROPPING a unit; the paper's p (keep probability) is 1 - rate.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest

from pipeline.model.dropout import Dropout

RATES = [0.1, 0.3, 0.5, 0.8]
SIGMAS = 5  # tolerance in standard deviations: a false failure is a ~1e-6 event


def _inputs(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Positive, non-zero activations, so a zero output always means a dropped unit."""
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=shape)


@pytest.mark.parametrize("rate", RATES)
def test_drops_a_binomial_fraction_and_keeps_the_mean(rate: float) -> None:
    x = _inputs((1000, 1000))
    out = Dropout(rate, rng=1).forward(x, training=True)

    n = x.size
    dropped = np.mean(out == 0)
    assert abs(dropped - rate) < SIGMAS * np.sqrt(rate * (1 - rate) / n)
    # Inverted dropout: out_i = x_i * mask_i / (1 - rate), so Var(out_i - x_i) = x_i^2 * rate / (1 - rate).
    mean_sd = np.sqrt(np.mean(x**2) * rate / (1 - rate) / n)
    assert abs(out.mean() - x.mean()) < SIGMAS * mean_sd
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / (1 - rate))


@pytest.mark.parametrize("rate", RATES)
def test_inference_is_the_identity_inverted_and_keep_scaled_paper(rate: float) -> None:
    x = _inputs((50, 20))
    assert Dropout(rate, rng=0).forward(x, training=False) is x
    np.testing.assert_allclose(
        Dropout(rate, rng=0, scaling="paper").forward(x, training=False), x * (1 - rate)
    )


def _expected_activation(x: np.ndarray, rate: float, scaling: str, draws: int = 20_000) -> np.ndarray:
    """The training-mode output averaged over `draws` masks (one row of the batch per draw)."""
    batch = np.broadcast_to(x, (draws, x.size))
    return Dropout(rate, rng=2, scaling=scaling).forward(batch, training=True).mean(axis=0)


def _mean_tolerance(x: np.ndarray, rate: float, draws: int = 20_000) -> np.ndarray:
    """SIGMAS standard errors of a mean of `draws` outputs (the larger, inverted-form variance)."""
    return SIGMAS * x * np.sqrt(rate / (1 - rate) / draws)


@pytest.mark.parametrize("scaling", ["inverted", "paper"])
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_training_and_inference_agree_in_expectation(scaling: str, rate: float) -> None:
    x = np.linspace(0.1, 2.0, 40)
    trained = _expected_activation(x, rate, scaling)
    inferred = Dropout(rate, rng=0, scaling=scaling).forward(x, training=False)
    assert np.all(np.abs(trained - inferred) < _mean_tolerance(x, rate))


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_masking_without_any_rescaling_does_not(rate: float) -> None:
    """The seed notebook: the paper's training mask (no scaling), but inference returns x unscaled."""
    x = np.linspace(0.1, 2.0, 40)
    trained = _expected_activation(x, rate, "paper")
    inferred = x
    np.testing.assert_allclose(trained, (1 - rate) * x, atol=0, rtol=0.05)
    assert np.all(np.abs(trained - inferred) > _mean_tolerance(x, rate))


@pytest.mark.parametrize(("scaling", "scale"), [("inverted", 1 / (1 - 0.3)), ("paper", 1.0)])
def test_backward_is_the_mask_times_the_scale(scaling: str, scale: float) -> None:
    layer = Dropout(0.3, rng=4, scaling=scaling)
    layer.forward(_inputs((64, 32)), training=True)
    grad = np.random.default_rng(5).normal(size=(64, 32))
    assert layer.mask is not None and 0 < layer.mask.mean() < 1
    np.testing.assert_array_equal(layer.backward(grad), grad * layer.mask * scale)


def test_backward_at_inference_is_the_inference_scale() -> None:
    grad = np.random.default_rng(5).normal(size=(8, 4))
    inverted, paper = Dropout(0.25, rng=0), Dropout(0.25, rng=0, scaling="paper")
    inverted.forward(_inputs((8, 4)), training=False)
    paper.forward(_inputs((8, 4)), training=False)
    np.testing.assert_array_equal(inverted.backward(grad), grad)
    np.testing.assert_allclose(paper.backward(grad), grad * 0.75)


def _softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) and its gradient w.r.t. the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = len(labels)
    loss = -np.log(probs[np.arange(n), labels]).mean()
    grad = probs.copy()
    grad[np.arange(n), labels] -= 1
    return float(loss), grad / n


def _tiny_net(
    w1: np.ndarray, w2: np.ndarray, x: np.ndarray, labels: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, Dropout]:
    """x -> W1 -> relu -> dropout -> W2 -> softmax-CE; returns loss, dW1, dW2 and the dropout layer.

    A fresh layer with the same seed draws the same mask each call: the mask is frozen.
    """
    dropout = Dropout(0.5, rng=11)
    pre = x @ w1
    hidden = np.maximum(pre, 0.0)
    dropped = dropout.forward(hidden, training=True)
    loss, d_logits = _softmax_cross_entropy(dropped @ w2, labels)
    d_w2 = dropped.T @ d_logits
    d_hidden = dropout.backward(d_logits @ w2.T)
    d_w1 = x.T @ (d_hidden * (pre > 0))
    return loss, d_w1, d_w2, dropout


def _numeric_gradient(f: Callable[[], float], w: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of `f` w.r.t. each entry of `w` (changed in place, then restored)."""
    grad = np.zeros_like(w)
    for index in np.ndindex(w.shape):
        original = w[index]
        w[index] = original + eps
        up = f()
        w[index] = original - eps
        down = f()
        w[index] = original
        grad[index] = (up - down) / (2 * eps)
    return grad


def test_finite_differences_agree_with_backward_through_a_tiny_net() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 5))
    labels = rng.integers(0, 3, size=6)
    w1, w2 = rng.normal(size=(5, 8)), rng.normal(size=(8, 3))

    _, d_w1, d_w2, dropout = _tiny_net(w1, w2, x, labels)
    assert dropout.mask is not None and 0 < dropout.mask.mean() < 1  # some units really dropped

    def loss() -> float:
        return _tiny_net(w1, w2, x, labels)[0]

    np.testing.assert_allclose(d_w1, _numeric_gradient(loss, w1), atol=1e-6, rtol=0)
    np.testing.assert_allclose(d_w2, _numeric_gradient(loss, w2), atol=1e-6, rtol=0)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), "0.5", True, None])
def test_a_rate_outside_zero_to_one_is_refused_by_value(rate: object) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(rate))):
        Dropout(rate, rng=0)  # type: ignore[arg-type]


def test_an_unknown_scaling_is_refused_by_value() -> None:
    with pytest.raises(ValueError, match="'none'"):
        Dropout(0.5, scaling="none")  # type: ignore[arg-type]


def test_backward_before_forward_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="before forward"):
        Dropout(0.5, rng=0).backward(np.ones((2, 3)))


def test_a_gradient_of_another_shape_is_an_error() -> None:
    layer = Dropout(0.5, rng=0)
    layer.forward(np.ones((2, 3)), training=True)
    with pytest.raises(ValueError, match=re.escape("(3, 2)")):
        layer.backward(np.ones((3, 2)))


def test_an_integer_input_is_an_error() -> None:
    with pytest.raises(TypeError, match="int64"):
        Dropout(0.5, rng=0).forward(np.ones((2, 3), dtype=np.int64), training=True)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4)])
@pytest.mark.parametrize("scaling", ["inverted", "paper"])
def test_any_shape_keeps_its_dtype(dtype: type, shape: tuple[int, ...], scaling: str) -> None:
    x = np.ones(shape, dtype=dtype)
    layer = Dropout(0.5, rng=0, scaling=scaling)
    for training in (True, False):
        out = layer.forward(x, training=training)
        assert out.dtype == dtype and out.shape == shape
        assert layer.backward(np.ones(shape, dtype=dtype)).dtype == dtype


@pytest.mark.parametrize("scaling", ["inverted", "paper"])
def test_rate_zero_is_the_identity_and_draws_nothing(scaling: str) -> None:
    rng = np.random.default_rng(9)
    before = rng.bit_generator.state
    layer = Dropout(0.0, rng=rng, scaling=scaling)
    x = _inputs((10, 10))
    for training in (True, False):
        assert layer.forward(x, training=training) is x
        grad = np.ones_like(x)
        assert layer.backward(grad) is grad
    assert rng.bit_generator.state == before


def test_the_same_seed_gives_the_same_masks_and_each_call_a_new_one() -> None:
    x = _inputs((20, 20))
    first, second = Dropout(0.5, rng=123), Dropout(0.5, rng=123)
    a1, b1 = first.forward(x, training=True), second.forward(x, training=True)
    a2 = first.forward(x, training=True)
    np.testing.assert_array_equal(a1, b1)
    assert not np.array_equal(a1, a2)
