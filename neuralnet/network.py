"""The network itself: parameter initialisation, forward pass, backward pass.

Everything here is a function of ``(weights, X)``; the estimators only validate, loop and keep state, and
prediction (:mod:`neuralnet.prediction`) is :func:`forward` plus the output activation.
Notation follows Nielsen: layer ``i`` computes ``z = a_prev @ W + b`` and ``a = f(z)``; ``delta`` is
``dLoss/dz``. Unlike Nielsen, samples are *rows* (``X`` is ``(n_samples, n_features)`` and ``W`` is
``(fan_in, fan_out)``), so products read ``a @ W`` instead of ``W @ a``.

All trainable numbers of a network live in one contiguous vector, coefficients first and intercepts after,
with per-layer views into it: an optimizer step is then a handful of vector operations instead of a Python
loop over layers, and the L2 penalty touches one slice. Several networks of one architecture are trained
*together* as rows of one matrix (:class:`Params` is always such a stack; a single fit is a stack of one):
each step then costs one numpy call per operation for all of them instead of one per network, which is
what a network this small spends most of its time on. Every operation acts on each network's own row or
slice, so a network trained in a stack gets exactly the weights it gets alone (tested).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from neuralnet.activations import DERIVATIVES, HIDDEN_ACTIVATIONS
from neuralnet.aliases import Array, Reduction
from neuralnet.losses import LOSSES

INITIALIZATIONS = ("glorot", "he", "uniform")


@dataclass(frozen=True)
class Params:
    """Weights (or gradients) of a stack of networks of one architecture, one row of ``flat`` per network.

    ``flat`` is ``(n_networks, n_params)``; ``coefs[i]`` is a ``(n_networks, fan_in, fan_out)`` view of it and
    ``intercepts[i]`` a ``(n_networks, 1, fan_out)`` view (so that it broadcasts over a batch's rows).
    ``flat[:, :n_coef]`` holds the coefficients (the L2-penalised part). Without intercepts (the tutorial's
    network), ``intercepts`` holds ``None`` per layer and ``flat`` only coefficients.
    """

    flat: Array
    coefs: list[Array]
    intercepts: list[Array | None]
    n_coef: int
    fit_intercept: bool

    @property
    def layer_sizes(self) -> list[int]:
        return [w.shape[1] for w in self.coefs] + [self.coefs[-1].shape[2]]

    def select(self, rows: NDArray[np.bool_] | NDArray[np.intp]) -> "Params":
        """A copy holding only the networks ``rows`` (a boolean mask or indices)."""
        return wrap(self.flat[rows], self.layer_sizes, self.fit_intercept)


def wrap(flat: Array, layer_sizes: Sequence[int], fit_intercept: bool = True) -> Params:
    """:class:`Params` viewing the C-contiguous ``(n_networks, n_params)`` matrix ``flat``."""
    shapes = list(pairwise(layer_sizes))
    n_coef = sum(fan_in * fan_out for fan_in, fan_out in shapes)
    n_params = n_coef + (sum(layer_sizes[1:]) if fit_intercept else 0)
    if flat.ndim != 2 or flat.shape[1] != n_params or not flat.flags.c_contiguous:
        raise ValueError(f"flat must be a C-contiguous (n_networks, {n_params}) matrix; got shape {flat.shape}.")
    n_networks = flat.shape[0]
    coefs: list[Array] = []
    intercepts: list[Array | None] = []
    start_w, start_b = 0, n_coef
    for fan_in, fan_out in shapes:
        coefs.append(flat[:, start_w : start_w + fan_in * fan_out].reshape(n_networks, fan_in, fan_out))
        start_w += fan_in * fan_out
        if fit_intercept:
            intercepts.append(flat[:, start_b : start_b + fan_out].reshape(n_networks, 1, fan_out))
            start_b += fan_out
        else:
            intercepts.append(None)
    return Params(flat, coefs, intercepts, n_coef, fit_intercept)


def allocate(layer_sizes: Sequence[int], fit_intercept: bool = True, n_networks: int = 1) -> Params:
    """Zero parameters of ``n_networks`` networks with layers of the given widths (input first, output last)."""
    shapes = list(pairwise(layer_sizes))
    n_params = sum(fan_in * fan_out for fan_in, fan_out in shapes) + (sum(layer_sizes[1:]) if fit_intercept else 0)
    return wrap(np.zeros((n_networks, n_params)), layer_sizes, fit_intercept)


def init_params(
    layer_sizes: Sequence[int], init: str, rngs: Sequence[np.random.RandomState], fit_intercept: bool = True
) -> Params:
    """Random coefficients and zero intercepts for one network per generator in ``rngs``.

    - ``"glorot"`` (Xavier): uniform in +-sqrt(6 / (fan_in + fan_out)), keeps the variance of
      activations and gradients roughly constant through sigmoid/tanh layers.
    - ``"he"``: normal with std sqrt(2 / fan_in), the same idea for relu layers (half the units are 0).
    - ``"uniform"``: uniform(0, 1), the tutorial's choice; all weights positive, so it trains slowly and
      only suits small sigmoid networks. Draws in the tutorial's order, layer by layer.
    """
    if init not in INITIALIZATIONS:
        raise ValueError(f"init must be one of {INITIALIZATIONS}; got {init!r}.")
    params = allocate(layer_sizes, fit_intercept, len(rngs))
    for k, rng in enumerate(rngs):
        for w in params.coefs:
            fan_in, fan_out = w.shape[1:]
            if init == "glorot":
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                w[k] = rng.uniform(-limit, limit, size=(fan_in, fan_out))
            elif init == "he":
                w[k] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
            else:
                w[k] = rng.uniform(size=(fan_in, fan_out))
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
) -> tuple[Array, Params]:
    """Each network's training objective and its gradient with respect to every parameter (backpropagation).

    The objective is the loss plus the L2 penalty ``alpha / 2 * ||W||^2``, both divided by the number of
    rows for ``reduction="mean"``; it comes back as one value per network. ``activations`` come from
    :func:`forward` with the same ``masks``; ``y`` is ``(n_networks, n_rows, n_outputs)``, or
    ``(n_rows, n_outputs)`` for targets every network shares. Gradients are written into ``out`` (an
    :func:`allocate`-d buffer of the same layout) when given, so the training loop reuses one buffer;
    nothing else is modified.
    """
    grads = out if out is not None else allocate(params.layer_sizes, params.fit_intercept, params.flat.shape[0])
    value, delta = LOSSES[loss](activations[-1], y)
    scale = 1.0 / y.shape[-2] if reduction == "mean" else 1.0
    if reduction == "mean":
        delta *= scale
    for i in range(len(params.coefs) - 1, -1, -1):
        a_in = activations[i]
        if masks is not None and i > 0:
            a_in = a_in * masks[i - 1]
        np.matmul(a_in.swapaxes(-1, -2), delta, out=grads.coefs[i])
        grad_b = grads.intercepts[i]
        if grad_b is not None:
            np.add.reduce(delta, axis=-2, keepdims=True, out=grad_b)
        if i > 0:
            delta = delta_below(
                delta, params.coefs[i], activations[i], activation, None if masks is None else masks[i - 1]
            )
    if alpha:
        coef = params.flat[:, : params.n_coef]
        value = value + 0.5 * alpha * np.vecdot(coef, coef)
        grads.flat[:, : params.n_coef] += (alpha * scale) * coef
    return value * scale, grads


def delta_below(delta: Array, w: Array, a: Array, activation: str, mask: Array | None = None) -> Array:
    """``delta`` of the layer below: ``(delta @ W^T) * f'(a)``, where ``a`` is that layer's (undropped) output.

    The one step of backpropagation shared by the training gradient (:func:`backward`) and the input
    gradient (:func:`input_gradient`).
    """
    delta = delta @ w.swapaxes(-1, -2)
    if mask is not None:
        delta *= mask
    if activation != "identity":
        delta *= DERIVATIVES[activation](a)
    return delta


def input_gradient(coefs: Sequence[Array], activations: Sequence[Array], delta: Array, activation: str) -> Array:
    """Derivative of an output with respect to each input row, by backpropagation down to the input.

    ``activations`` come from :func:`forward`; ``delta`` is the output's derivative with respect to the
    logits ``z_L``, one row per input row. Same steps as :func:`backward`, but the last one goes through the
    first layer's weights to ``X`` instead of stopping at them.
    """
    for i in range(len(coefs) - 1, 0, -1):
        delta = delta_below(delta, coefs[i], activations[i], activation)
    return delta @ coefs[0].swapaxes(-1, -2)


def loss_and_gradient(
    params: Params,
    X: Array,
    y: Array,
    *,
    activation: str,
    loss: str,
    alpha: float = 0.0,
    reduction: Reduction = "mean",
) -> tuple[Array, Params]:
    """Objectives and gradients at ``params``: one forward and one backward pass (for gradient checks)."""
    activations = forward(params.coefs, params.intercepts, X, activation)
    return backward(params, activations, y, activation=activation, loss=loss, alpha=alpha, reduction=reduction)
