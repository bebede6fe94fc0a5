"""Loss functions of the output *logits* ``z`` (the output layer before its activation).

Working from logits keeps every loss finite: ``log(sigmoid(z))`` is ``-logaddexp(0, -z)``, which never
takes the log of a probability that rounded to 0. Each function returns the loss together with
its derivative ``dL/dz`` - the output layer's ``delta`` - because both come from the same intermediate
(the output probabilities), which training would otherwise compute twice per batch. The output
activation each loss implies is in :data:`OUTPUT_ACTIVATION`.

Conventions: ``z`` and ``y`` have shape ``(n_samples, n_outputs)``, or ``(n_networks, n_samples, n_outputs)``
for a stack of networks trained together; classification targets are 0/1 (one column for binary problems,
one-hot columns for multiclass ones). The loss is *summed* over each network's samples (one value per
network; a 0-d array for a single matrix) and the derivative is per sample; the caller divides by n for
a mean.
"""

from collections.abc import Callable

import numpy as np

from neuralnet.activations import sigmoid, sigmoid_derivative, softmax
from neuralnet.aliases import Array

LossFunction = Callable[[Array, Array], tuple[Array, Array]]


def _total(x: Array) -> Array:
    """Sum over each network's samples and outputs (the last two axes)."""
    return np.add.reduce(x, axis=(-2, -1))  # type: ignore[no-any-return]


def _logsumexp(z: Array) -> Array:
    """Row-wise ``log(sum(exp(z)))``, shifted by the row maximum so that nothing overflows."""
    m: Array = z.max(axis=-1, keepdims=True)
    total: Array = np.exp(z - m).sum(axis=-1, keepdims=True)
    return m + np.log(total)


def binary_log_loss(z: Array, y: Array) -> tuple[Array, Array]:
    """Binary cross-entropy of ``p = sigmoid(z)``: ``-y log p - (1-y) log(1-p) = log(1 + e^z) - y z``."""
    value = _total(np.logaddexp(0.0, z) - y * z)
    return value, sigmoid(z) - y


def log_loss(z: Array, y: Array) -> tuple[Array, Array]:
    """Categorical cross-entropy of ``p = softmax(z)`` against one-hot ``y``: ``logsumexp(z) - z[true]``."""
    value = _total(_logsumexp(z)) - _total(y * z)
    return value, softmax(z) - y


def squared_error(z: Array, y: Array) -> tuple[Array, Array]:
    """Half the squared error of an identity output (regression): ``0.5 * (z - y)**2``."""
    r = z - y
    return 0.5 * _total(r * r), r


def sigmoid_squared_error(z: Array, y: Array) -> tuple[Array, Array]:
    """Half the squared error of ``a = sigmoid(z)``: the tutorial's loss, ``0.5 * (y - a)**2``."""
    a = sigmoid(z)
    r = a - y
    # The tutorial's ``-(y - a) * a * (1 - a)``: the error times the sigmoid's derivative.
    return 0.5 * _total(r * r), r * sigmoid_derivative(a)


def softmax_squared_error(z: Array, y: Array) -> tuple[Array, Array]:
    """Half the squared error of ``p = softmax(z)`` (half the Brier score): multiclass squared error."""
    p = softmax(z)
    r = p - y
    # Chain rule through the softmax Jacobian diag(p) - p p^T, applied to dL/dp = r.
    return 0.5 * _total(r * r), p * (r - np.sum(p * r, axis=-1, keepdims=True))


LOSSES: dict[str, LossFunction] = {
    "binary_log_loss": binary_log_loss,
    "log_loss": log_loss,
    "squared_error": squared_error,
    "sigmoid_squared_error": sigmoid_squared_error,
    "softmax_squared_error": softmax_squared_error,
}

OUTPUT_ACTIVATION: dict[str, str] = {
    "binary_log_loss": "sigmoid",
    "log_loss": "softmax",
    "squared_error": "identity",
    "sigmoid_squared_error": "sigmoid",
    "softmax_squared_error": "softmax",
}
