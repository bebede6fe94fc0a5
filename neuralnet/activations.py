"""Activation functions, each with its derivative beside it.

Every derivative is written in terms of the activation's *output* ``a`` rather than its input ``z``
(``sigmoid'(z) = a * (1 - a)``, ``tanh'(z) = 1 - a**2``), as in Nielsen's book and scikit-learn: the
forward pass already keeps ``a`` for the weight gradients, so backprop needs nothing else.

Hidden layers may use any name in :data:`HIDDEN_ACTIVATIONS`; the output layer's function is fixed by
the loss (see :mod:`neuralnet.losses`) and is one of :data:`OUTPUT_ACTIVATIONS`.
"""

import numpy as np

from neuralnet.aliases import ActivationFunction, Array


def identity(z: Array) -> Array:
    """Leave ``z`` as it is (linear layers, regression outputs)."""
    return z


def identity_derivative(a: Array) -> Array:
    return np.ones_like(a)


def sigmoid(z: Array) -> Array:
    """Logistic function ``1 / (1 + exp(-z))``, evaluated as written, as SciPy's ``expit`` does.

    For ``z < -709.78``, ``exp(-z)`` overflows to ``inf`` and ``1 / (1 + inf)`` is exactly 0 (the true value
    is below 1e-308), so that overflow is harmless and its warning is silenced. Elsewhere the result keeps
    full relative precision in both tails: ``sigmoid(-40)`` is 4.2e-18, where ``0.5 * (1 + tanh(z / 2))``
    rounds to 0; only ``z >= 36.74`` rounds to exactly 1. The piecewise form ``e / (1 + e)``, ``e = exp(z)``
    for ``z < 0``, never overflows but can differ in the last bit, and the tutorial network (the ``"seed"``
    preset) amplifies such bits into visibly different weights: this form reproduces it bit for bit.
    """
    a = np.negative(z)
    with np.errstate(over="ignore"):
        np.exp(a, out=a)
    a += 1.0
    return np.divide(1.0, a, out=a)


def sigmoid_derivative(a: Array) -> Array:
    return a * (1.0 - a)


def tanh(z: Array) -> Array:
    """Hyperbolic tangent: a zero-centred sigmoid, usually the easier one to train."""
    return np.tanh(z)


def tanh_derivative(a: Array) -> Array:
    return 1.0 - a * a


def relu(z: Array) -> Array:
    """Rectified linear unit ``max(0, z)``."""
    return np.maximum(z, 0.0)


def relu_derivative(a: Array) -> Array:
    # a > 0 exactly where z > 0; the kink at z = 0 gets derivative 0, as in most libraries.
    return (a > 0.0).astype(np.float64)


def softmax(z: Array) -> Array:
    """Row-wise softmax, shifted by the row maximum so that ``exp`` never overflows.

    Output-only: its Jacobian is folded into the loss gradient, so it has no derivative here.
    """
    e: Array = z - z.max(axis=-1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=-1, keepdims=True)
    return e


HIDDEN_ACTIVATIONS: dict[str, ActivationFunction] = {
    "identity": identity,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
}

DERIVATIVES: dict[str, ActivationFunction] = {
    "identity": identity_derivative,
    "sigmoid": sigmoid_derivative,
    "tanh": tanh_derivative,
    "relu": relu_derivative,
}

OUTPUT_ACTIVATIONS: dict[str, ActivationFunction] = {
    "identity": identity,
    "sigmoid": sigmoid,
    "softmax": softmax,
}
