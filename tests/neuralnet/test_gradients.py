"""Backpropagation against central finite differences, for every activation x loss combination."""

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from neuralnet.activations import HIDDEN_ACTIVATIONS
from neuralnet.aliases import Array, Reduction
from neuralnet.losses import LOSSES
from neuralnet.network import Params, backward, forward, init_params, loss_and_gradient

N_SAMPLES, N_FEATURES, HIDDEN = 7, 4, (5, 3)
STEP = 1e-6
TOLERANCE = 1e-6


def _targets(loss: str, rng: np.random.RandomState) -> Array:
    if loss in ("binary_log_loss", "sigmoid_squared_error"):
        return (rng.uniform(size=(N_SAMPLES, 1)) < 0.5).astype(np.float64)
    if loss in ("log_loss", "softmax_squared_error"):
        return np.eye(3)[rng.randint(3, size=N_SAMPLES)]
    return rng.normal(size=(N_SAMPLES, 2))  # squared_error: a two-output regression


def _network(n_outputs: int, rng: np.random.RandomState, fit_intercept: bool = True) -> Params:
    """A stack of one network with weights large enough to leave the activations' linear range."""
    params = init_params([N_FEATURES, *HIDDEN, n_outputs], "glorot", [rng], fit_intercept)
    params.flat[0] = rng.normal(scale=0.5, size=params.flat.shape[1])
    return params


def _relative_error(analytic: Array, numeric: Array) -> float:
    return float(np.linalg.norm(analytic - numeric) / (np.linalg.norm(analytic) + np.linalg.norm(numeric)))


def _numeric_gradient(params: Params, f: Callable[[], Array]) -> Array:
    """Central differences ``(f(w + h) - f(w - h)) / 2h`` of the one network in ``params``, parameter by parameter."""
    weights = params.flat[0]
    grad: Array = np.zeros_like(weights)
    for j in range(weights.size):
        saved = weights[j]
        weights[j] = saved + STEP
        f_plus = float(f()[0])
        weights[j] = saved - STEP
        f_minus = float(f()[0])
        weights[j] = saved
        grad[j] = (f_plus - f_minus) / (2 * STEP)
    return grad


def _assert_smooth(params: Params, X: Array, activation: str) -> None:
    """relu's derivative jumps at 0: make sure no pre-activation is within a few steps of the kink."""
    if activation != "relu":
        return
    a = X
    for w, b in zip(params.coefs[:-1], params.intercepts[:-1], strict=True):
        z = a @ w[0] + (0.0 if b is None else b[0])
        assert np.min(np.abs(z)) > 1e-4, "test point too close to relu's kink; change the seed"
        a = np.maximum(z, 0.0)


@pytest.mark.parametrize(
    ("activation", "loss", "alpha", "reduction"),
    list(itertools.product(HIDDEN_ACTIVATIONS, LOSSES, [0.0, 0.3], ["mean", "sum"])),
)
def test_backprop_matches_finite_differences(activation: str, loss: str, alpha: float, reduction: Reduction) -> None:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES))
    y = _targets(loss, rng)
    params = _network(y.shape[1], rng)
    _assert_smooth(params, X, activation)

    def objective() -> tuple[Array, Params]:
        return loss_and_gradient(params, X, y, activation=activation, loss=loss, alpha=alpha, reduction=reduction)

    value, grads = objective()
    numeric = _numeric_gradient(params, lambda: objective()[0])

    assert np.isfinite(value)
    assert _relative_error(grads.flat[0], numeric) < TOLERANCE


def test_backprop_without_intercepts_matches_finite_differences() -> None:
    """The tutorial's configuration: no intercepts, sigmoid squared error, summed over the batch."""
    rng = np.random.RandomState(1)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES))
    y = _targets("sigmoid_squared_error", rng)
    params = _network(1, rng, fit_intercept=False)
    assert params.flat.shape == (1, params.n_coef)

    def objective() -> Array:
        return loss_and_gradient(params, X, y, activation="sigmoid", loss="sigmoid_squared_error", reduction="sum")[0]

    _, grads = loss_and_gradient(params, X, y, activation="sigmoid", loss="sigmoid_squared_error", reduction="sum")
    assert _relative_error(grads.flat[0], _numeric_gradient(params, objective)) < TOLERANCE


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_backprop_through_fixed_dropout_masks_matches_finite_differences(activation: str) -> None:
    """With the masks held fixed, dropout is a deterministic function whose gradient backprop must give."""
    rng = np.random.RandomState(2)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES))
    y = _targets("binary_log_loss", rng)
    params = _network(1, rng)
    keep = 0.6
    masks = [(rng.uniform(size=(N_SAMPLES, width)) < keep) / keep for width in HIDDEN]
    assert any((m == 0).any() for m in masks)

    def objective() -> Array:
        acts = forward(params.coefs, params.intercepts, X, activation, masks)
        return backward(params, acts, y, activation=activation, loss="binary_log_loss", alpha=0.1, masks=masks)[0]

    acts = forward(params.coefs, params.intercepts, X, activation, masks)
    _, grads = backward(params, acts, y, activation=activation, loss="binary_log_loss", alpha=0.1, masks=masks)
    assert _relative_error(grads.flat[0], _numeric_gradient(params, objective)) < TOLERANCE
