"""The network itself: parameter initialisation, forward pass, backward pass.

Everything here is a function of ``(weights, X)``; the estimators only validate, loop and keep state, and
prediction (:mod:`neuralnet.prediction`) is :func:`forward` plus the output activation.
Notation follows Nielsen: layer ``i`` computes ``z = a_prev @ W + b`` and ``a = f(z)``; ``delta`` is
``dLoss/dz``. Unlike Nielsen, samples are *rows* (``X`` is ``(n_samples, n_features)`` and ``W`` is
``(fan_in, fan_out)``), so products read ``a @ W`` instead of ``W @ a``.

All trainable numbers live in one contiguous vector (:class:`Params`), coefficients first and intercepts
after, with per-layer views into it. An optimizer step is then a handful of vector operations instead of
a Python loop over layers, and the L2 penalty touches one slice.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import numpy as np

from neuralnet.activations import DERIVATIVES, HIDDEN_ACTIVATIONS, Array
from neuralnet.losses import LOSSES

INITIALIZATIONS = ("glorot", "he", "uniform")
Reduction = Literal["mean", "sum"]


@dataclass(frozen=True)
class Params:
    """Weights (or gradients) of a network, stored in one flat vector with per-layer views.

    ``flat[:n_coef]`` holds the coefficients (the L2-penalised part). Without intercepts (the
    tutorial's network), ``intercepts`` holds ``None`` per layer and ``flat`` only coefficients.
    """

    flat: Array
    coefs: list[Array]
    intercepts: list[Array | None]
    n_coef: int
    fit_intercept: bool


def allocate(layer_sizes: Sequence[int], fit_intercept: bool = True) -> Params:
    """Zero parameters for layers of the given widths (input width first, output width last)."""
    shapes = list(pairwise(layer_sizes))
    n_coef = sum(fan_in * fan_out for fan_in, fan_out in shapes)
    n_intercept = sum(layer_sizes[1:]) if fit_intercept else 0
    flat = np.zeros(n_coef + n_intercept)
    coefs: list[Array] = []
    intercepts: list[Array | None] = []
    start_w, start_b = 0, n_coef
    for fan_in, fan_out in shapes:
        coefs.append(flat[start_w : start_w + fan_in * fan_out].reshape(fan_in, fan_out))
        start_w += fan_in * fan_out
        if fit_intercept:
            intercepts.append(flat[start_b : start_b + fan_out])
            start_b += fan_out
        else:
            intercepts.append(None)
    return Params(flat, coefs, intercepts, n_coef, fit_intercept)


def init_params(
    layer_sizes: Sequence[int], init: str, rng: np.random.RandomState, fit_intercept: bool = True
) -> Params:
    """Random coefficients and zero intercepts.

    - ``"glorot"`` (Xavier): uniform in +-sqrt(6 / (fan_in + fan_out)), keeps the variance of
      activations and gradients roughly constant through sigmoid/tanh layers.
    - ``"he"``: normal with std sqrt(2 / fan_in), the same idea for relu layers (half the units are 0).
    - ``"uniform"``: uniform(0, 1), the tutorial's choice; all weights positive, so it trains slowly and
      only suits small sigmoid networks. Draws in the tutorial's order, layer by layer.
    """
    params = allocate(layer_sizes, fit_intercept)
    for w in params.coefs:
        fan_in, fan_out = w.shape
        if init == "glorot":
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            w[...] = rng.uniform(-limit, limit, size=w.shape)
        elif init == "he":
            w[...] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=w.shape)
        elif init == "uniform":
            w[...] = rng.uniform(size=w.shape)
        else:
            raise ValueError(f"init must be one of {INITIALIZATIONS}; got {init!r}.")
    return params


def forward(
    coefs: Sequence[Array],
    intercepts: Sequence[Array | None],
    X: Array,
    activation: str,
    masks: Sequence[Array] | None = None,
) -> list[Array]:
    """Activations of every layer: ``[X, a_1, ..., a_{L-1}, z_L]``.

    The last entry is the output layer's *logits* (losses and output activations start from them).
    ``masks`` are inverted-dropout masks for the hidden layers (0 or 1/keep_probability): each hidden
    layer passes ``a * mask`` on, while the list keeps the undropped ``a`` for the derivatives.
    """
    f = HIDDEN_ACTIVATIONS[activation]
    activations = [X]
    a = X
    n_hidden = len(coefs) - 1
    for i, (w, b) in enumerate(zip(coefs, intercepts, strict=True)):
        z = a @ w
        if b is not None:
            z += b
        if i == n_hidden:
            activations.append(z)
            break
        a = f(z)
        activations.append(a)
        if masks is not None:
            a = a * masks[i]
    return activations


def backward(
    params: Params,
    activations: Sequence[Array],
    y: Array,
    *,
    activation: str,
    loss: str,
    alpha: float = 0.0,
    reduction: Reduction = "mean",
    masks: Sequence[Array] | None = None,
    out: Params | None = None,
) -> tuple[float, Params]:
    """The training objective and its gradient with respect to every parameter (backpropagation).

    The objective is the loss plus the L2 penalty ``alpha / 2 * ||W||^2``, both divided by the number of
    rows for ``reduction="mean"``. ``activations`` come from :func:`forward` with the same ``masks``.
    Gradients are written into ``out`` (an :func:`allocate`-d buffer of the same layout) when given, so
    the training loop reuses one buffer; nothing else is modified.
    """
    grads = out if out is not None else allocate(_layer_sizes(params), params.fit_intercept)
    f_prime = DERIVATIVES[activation]
    value, delta = LOSSES[loss](activations[-1], y)
    scale = 1.0 / y.shape[0] if reduction == "mean" else 1.0
    if reduction == "mean":
        delta *= scale
    for i in range(len(params.coefs) - 1, -1, -1):
        a_in = activations[i]
        if masks is not None and i > 0:
            a_in = a_in * masks[i - 1]
        np.matmul(a_in.T, delta, out=grads.coefs[i])
        grad_b = grads.intercepts[i]
        if grad_b is not None:
            np.add.reduce(delta, axis=0, out=grad_b)
        if i > 0:
            delta = delta @ params.coefs[i].T
            if masks is not None:
                delta *= masks[i - 1]
            if activation != "identity":
                delta *= f_prime(activations[i])
    if alpha:
        coef = params.flat[: params.n_coef]
        value += 0.5 * alpha * float(np.dot(coef, coef))
        grads.flat[: params.n_coef] += (alpha * scale) * coef
    return value * scale, grads


def loss_and_gradient(
    params: Params,
    X: Array,
    y: Array,
    *,
    activation: str,
    loss: str,
    alpha: float = 0.0,
    reduction: Reduction = "mean",
) -> tuple[float, Params]:
    """Objective and gradient at ``params``: one forward and one backward pass (for gradient checks)."""
    activations = forward(params.coefs, params.intercepts, X, activation)
    return backward(params, activations, y, activation=activation, loss=loss, alpha=alpha, reduction=reduction)


def _layer_sizes(params: Params) -> list[int]:
    return [w.shape[0] for w in params.coefs] + [params.coefs[-1].shape[1]]
