"""Activation functions, each with its derivative beside it.

Every derivative is written in terms of the activation's *output* ``a`` rather than its input ``z``
(``sigmoid'(z) = a * (1 - a)``, ``tanh'(z) = 1 - a**2``), as in Nielsen's book and scikit-learn: the
forward pass already keeps ``a`` for the weight gradients, so backprop needs nothing else.

Hidden layers may use any name in :data:`HIDDEN_ACTIVATIONS`; the output layer's function is fixed by
the loss (see :mod:`neuralnet.losses`) and is one of :data:`OUTPUT_ACTIVATIONS`.
"""

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

Array = NDArray[np.float64]
ActivationFunction = Callable[[Array], Array]


def identity(z: Array) -> Array:
    """Leave ``z`` as it is (linear layers, regression outputs)."""
    return z


def identity_derivative(a: Array) -> Array:
    return np.ones_like(a)


def sigmoid(z: Array) -> Array:
    """Logistic function ``1 / (1 + exp(-z))``, computed by SciPy's ``expit``.

    The textbook formula overflows in ``exp`` for ``z < -709``; the stable rewrite
    ``0.5 * (1 + tanh(z / 2))`` costs three passes and a ``tanh``, about 2.5x the time of this single
    stable pass - and the sigmoid is most of the tutorial network's training time.
    """
    return expit(z)  # type: ignore[no-any-return]


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
    e: Array = z - z.max(axis=1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=1, keepdims=True)
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
