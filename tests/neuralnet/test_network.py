"""Unit tests of the pure functions: activations, losses, initialisation, optimizers, stacking, training."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from neuralnet import activations, losses, network, optimizers, prediction
from neuralnet.aliases import Array
from neuralnet.trainer import LoopSettings, dropout_masks, train_stack

EXTREME = np.array([[-1e308, -1e4, -745.0, -40.0, -1.0, 0.0, 1.0, 40.0, 745.0, 1e4, 1e308]]).T


def _naive_sigmoid(z: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-z))


# --- activations ---------------------------------------------------------------------------------


def test_sigmoid_is_the_logistic_function_and_never_overflows() -> None:
    z = np.linspace(-30, 30, 61)
    assert_allclose(activations.sigmoid(z), _naive_sigmoid(z), rtol=1e-14)
    a = activations.sigmoid(EXTREME)  # RuntimeWarnings are errors in this suite
    assert a.min() == 0.0
    assert a.max() == 1.0
    assert np.all(np.diff(a[:, 0]) >= 0)


@pytest.mark.parametrize("name", list(activations.HIDDEN_ACTIVATIONS))
def test_each_derivative_matches_a_finite_difference_of_its_function(name: str) -> None:
    f, f_prime = activations.HIDDEN_ACTIVATIONS[name], activations.DERIVATIVES[name]
    z = np.array([-2.5, -0.7, 0.3, 1.9])  # away from relu's kink
    h = 1e-6
    numeric = (f(z + h) - f(z - h)) / (2 * h)
    assert_allclose(f_prime(f(z)), numeric, rtol=1e-8)  # derivatives take the activation's output


def test_softmax_rows_sum_to_one_even_for_huge_logits() -> None:
    z = np.array([[1000.0, 1000.0, -1000.0], [1.0, 2.0, 3.0], [-1e4, 0.0, 1e4]])
    p = activations.softmax(z)
    assert_allclose(p.sum(axis=1), 1.0)
    assert_allclose(p[0], [0.5, 0.5, 0.0])
    assert_allclose(p[1], np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum())


# --- losses --------------------------------------------------------------------------------------


def test_losses_agree_with_their_textbook_formulas() -> None:
    rng = np.random.RandomState(0)
    z = rng.normal(size=(6, 1))
    y = np.array([[0.0], [1.0], [1.0], [0.0], [1.0], [0.0]])
    p = _naive_sigmoid(z)
    assert_allclose(losses.binary_log_loss(z, y)[0], -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert_allclose(losses.sigmoid_squared_error(z, y)[0], 0.5 * np.sum((y - p) ** 2))
    assert_allclose(losses.sigmoid_squared_error(z, y)[1], -(y - p) * p * (1 - p))  # the tutorial's delta

    z3 = rng.normal(size=(6, 3))
    y3 = np.eye(3)[[0, 1, 2, 2, 1, 0]]
    p3 = np.exp(z3) / np.exp(z3).sum(axis=1, keepdims=True)
    assert_allclose(losses.log_loss(z3, y3)[0], -np.sum(y3 * np.log(p3)))
    assert_allclose(losses.softmax_squared_error(z3, y3)[0], 0.5 * np.sum((p3 - y3) ** 2))
    assert_allclose(losses.squared_error(z3, y3)[0], 0.5 * np.sum((z3 - y3) ** 2))


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_losses_stay_finite_at_extreme_logits(name: str) -> None:
    z = np.clip(EXTREME, -1e4, 1e4)  # squared error of 1e308 overflows by definition, not by method
    y = (np.arange(len(z)) % 2).reshape(-1, 1).astype(np.float64)
    if losses.OUTPUT_ACTIVATION[name] == "softmax":
        z, y = np.hstack([z, -z]), np.hstack([y, 1 - y])
    value, delta = losses.LOSSES[name](z, y)
    assert np.isfinite(value)
    assert np.all(np.isfinite(delta))


# --- parameters ----------------------------------------------------------------------------------


def test_parameters_are_views_of_one_row_per_network() -> None:
    params = network.allocate([3, 4, 2], n_networks=2)
    assert params.flat.shape == (2, 3 * 4 + 4 * 2 + 4 + 2) == (2, params.n_coef + 6)
    params.flat[:] = np.arange(params.flat.size).reshape(2, -1)
    assert_array_equal(params.coefs[0][0].ravel(), np.arange(12))
    assert_array_equal(params.coefs[1][0].ravel(), np.arange(12, 20))
    assert_array_equal(params.intercepts[0], [[np.arange(20, 24)], [np.arange(46, 50)]])
    assert [w.shape for w in params.coefs] == [(2, 3, 4), (2, 4, 2)]
    assert all(np.shares_memory(w, params.flat) for w in params.coefs)
    assert params.layer_sizes == [3, 4, 2]
    second = params.select(np.array([False, True]))
    assert_array_equal(second.flat, params.flat[1:])
    assert not np.shares_memory(second.flat, params.flat)

    no_bias = network.allocate([3, 4, 2], fit_intercept=False)
    assert no_bias.flat.shape == (1, no_bias.n_coef) == (1, 20)
    assert no_bias.intercepts == [None, None]
    with pytest.raises(ValueError, match="C-contiguous"):
        network.wrap(np.zeros((2, 19)), [3, 4, 2], fit_intercept=False)


def test_initialisations_have_their_documented_distributions() -> None:
    sizes = [200, 300, 1]
    glorot = network.init_params(sizes, "glorot", [np.random.RandomState(0)])
    limit = np.sqrt(6 / 500)
    assert np.abs(glorot.coefs[0]).max() <= limit
    assert np.abs(glorot.coefs[0]).max() > 0.99 * limit
    he = network.init_params(sizes, "he", [np.random.RandomState(0)])
    assert_allclose(he.coefs[0].std(), np.sqrt(2 / 200), rtol=0.02)
    uniform = network.init_params(sizes, "uniform", [np.random.RandomState(0)], fit_intercept=False)
    assert 0.0 <= uniform.coefs[0].min() < 0.01
    assert 0.99 < uniform.coefs[0].max() < 1.0
    for params in (glorot, he):
        assert not any(b.any() for b in params.intercepts if b is not None)
    with pytest.raises(ValueError, match="'zeros'"):
        network.init_params(sizes, "zeros", [np.random.RandomState(0)])
    pair = network.init_params(sizes, "he", [np.random.RandomState(0), np.random.RandomState(1)])
    assert_array_equal(pair.flat[0], he.flat[0])  # each network draws from its own generator
    assert not np.array_equal(pair.flat[1], he.flat[0])


# --- optimizers ----------------------------------------------------------------------------------


def test_optimizers_take_their_textbook_first_steps() -> None:
    g = np.array([0.5, -2.0, 0.0])

    def first_step(optimizer: optimizers.Optimizer) -> Array:
        w = np.ones(3)
        optimizer.update_params(w, g)
        return w - 1.0

    assert_allclose(first_step(optimizers.SGD(3, 0.1)), -0.1 * g)
    assert_allclose(first_step(optimizers.Momentum(3, 0.1, 0.9)), -0.1 * g)
    assert_allclose(first_step(optimizers.Momentum(3, 0.1, 0.9, nesterov=True)), -0.1 * g * 1.9)
    # Adam's bias-corrected first step is lr * sign(g) (up to epsilon / sqrt(1 - beta_2)).
    assert_allclose(first_step(optimizers.Adam(3, 0.01)), -0.01 * np.sign(g), atol=1e-8)
    assert_allclose(first_step(optimizers.RMSprop(3, 0.01, rho=0.9)), -0.01 * g / (np.sqrt(0.1 * g**2) + 1e-8))


def test_momentum_accumulates_velocity() -> None:
    w, g = np.zeros(1), np.ones(1)
    momentum = optimizers.Momentum(1, 0.1, 0.5)
    for _ in range(3):
        momentum.update_params(w, g)
    assert_allclose(w, -0.1 * (1 + 1.5 + 1.75))


def test_make_optimizer_rejects_unknown_names() -> None:
    assert isinstance(optimizers.make_optimizer("rmsprop", 3, learning_rate=0.1), optimizers.RMSprop)
    with pytest.raises(ValueError, match="'lbfgs'"):
        optimizers.make_optimizer("lbfgs", 3, learning_rate=0.1)


# --- dropout masks and the training loop ---------------------------------------------------------


def testdropout_masks_are_inverted_and_have_the_requested_rate() -> None:
    masks = dropout_masks([np.random.RandomState(0), np.random.RandomState(1)], 2000, [50, 3], 0.25)
    assert masks is not None
    assert [m.shape for m in masks] == [(2, 2000, 50), (2, 2000, 3)]
    assert set(np.unique(masks[0])) == {0.0, 1.0 / 0.75}
    assert_allclose((masks[0] == 0).mean(), 0.25, atol=0.01)
    assert_allclose(masks[0].mean(), 1.0, atol=0.02)  # expected activation unchanged
    assert not np.array_equal(masks[0][0], masks[0][1])  # each network has its own
    assert dropout_masks([np.random.RandomState(0)], 10, [5], 0.0) is None


def test_train_stack_restores_the_weights_of_the_best_validation_epoch() -> None:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, :1] + 0.8 * rng.normal(size=(80, 1)) > 0).astype(np.float64)  # noisy: overfits
    X_val, y_val = X[60:], y[60:]
    params = network.init_params([3, 16, 1], "glorot", [rng])
    settings = LoopSettings("tanh", "binary_log_loss", batch_size=8, max_iter=300, n_iter_no_change=20)
    adam = optimizers.Adam(params.flat.shape, 0.05)
    [result] = train_stack(
        params, adam, X[None, :60], y[None, :60], settings, rngs=[rng], validation=(X_val[None], y_val[None])
    )

    assert result.stopped_early
    assert result.best_epoch < result.n_iter
    restored = network.wrap(result.weights[None], [3, 16, 1])
    z = network.forward(restored.coefs, restored.intercepts, X_val, "tanh")[-1]
    restored_score = -losses.binary_log_loss(z, y_val)[0] / len(y_val)
    assert restored_score == max(result.validation_scores) == result.validation_scores[result.best_epoch - 1]
    assert restored_score > result.validation_scores[-1]  # the last epoch's weights were worse


# --- stacking ------------------------------------------------------------------------------------


def _weights(params: network.Params) -> tuple[list[Array], list[Array]]:
    """The first network of ``params`` as an estimator stores it: 2-D coefficients, 1-D intercepts."""
    intercepts = [b[0, 0] for b in params.intercepts if b is not None]
    assert len(intercepts) == len(params.coefs)
    return [w[0] for w in params.coefs], intercepts


@pytest.mark.parametrize(("n_outputs", "output_activation"), [(1, "sigmoid"), (3, "softmax")])
def test_stacked_networks_predict_the_mean_of_their_members(n_outputs: int, output_activation: str) -> None:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20, 4))
    members = []
    for _ in range(3):
        p = network.init_params([4, 5, 3, n_outputs], "glorot", [rng])
        p.flat[0] = rng.normal(size=p.flat.shape[1])
        members.append(_weights(p))
    coefs, intercepts = prediction.stack(members)
    assert [w.shape for w in coefs] == [(4, 15), (15, 9), (9, 3 * n_outputs)]

    together = prediction.predict_proba(coefs, intercepts, X, "tanh", output_activation, n_members=3)
    one_by_one = [prediction.predict_proba(c, b, X, "tanh", output_activation) for c, b in members]
    assert_allclose(together, np.mean(one_by_one, axis=0), rtol=1e-12)
    assert together.shape == (20, max(2, n_outputs))


def test_stack_refuses_different_architectures() -> None:
    rng = np.random.RandomState(0)
    small, large = (network.init_params([4, h, 1], "glorot", [rng]) for h in (3, 5))
    with pytest.raises(ValueError, match="architecture"):
        prediction.stack([_weights(small), _weights(large)])
