"""From fitted weights to outputs: the one prediction path of the estimators and the serving model.

:class:`~neuralnet.classifier.NeuralNetClassifier`, :class:`~neuralnet.ensemble.NetworkEnsembleClassifier`
and :class:`~neuralnet.inference.ProbabilityModel` all call :func:`predict_proba` here, so they agree bit for
bit. An ensemble is evaluated as one wider network (:func:`stack`): one pass instead of one per member,
which matters most for a single row, where numpy's per-call overhead outweighs the arithmetic.
"""

from collections.abc import Sequence

import numpy as np

from neuralnet.activations import OUTPUT_ACTIVATIONS
from neuralnet.aliases import Array
from neuralnet.network import forward

# Probabilities are kept inside [EPS, 1 - EPS]: never exactly 0 or 1, so a log loss stays finite.
EPS = float(np.finfo(np.float64).eps)


def predict_output(
    coefs: Sequence[Array], intercepts: Sequence[Array], X: Array, activation: str, output_activation: str
) -> Array:
    """The network's output ``(n_samples, n_outputs)``; probabilities are clipped to ``[EPS, 1 - EPS]``."""
    z = forward(coefs, intercepts, X, activation)[-1]
    out = OUTPUT_ACTIVATIONS[output_activation](z)
    if output_activation != "identity":
        np.clip(out, EPS, 1.0 - EPS, out=out)
    return out


def predict_proba(
    coefs: Sequence[Array],
    intercepts: Sequence[Array],
    X: Array,
    activation: str,
    output_activation: str,
    *,
    n_members: int = 1,
) -> Array:
    """Class probabilities ``(n_samples, n_classes)``; a single sigmoid unit gives ``[1 - p, p]``.

    With ``n_members > 1`` the weights are :func:`stack`-ed networks, and the result is the mean of
    their probabilities: an ensemble costs one pass of a wider network instead of one pass per member.
    """
    z = forward(coefs, intercepts, X, activation)[-1]
    n, width = z.shape
    k = width // n_members  # outputs per member
    if output_activation == "softmax" and n_members > 1:
        z = z.reshape(n * n_members, k)  # softmax within each member's block of columns
    p = OUTPUT_ACTIVATIONS[output_activation](z)
    np.minimum(np.maximum(p, EPS, out=p), 1.0 - EPS, out=p)  # np.clip's result without its Python wrappers
    if n_members > 1:
        p = np.add.reduce(p.reshape(n, n_members, k), axis=1)
        p /= n_members
    if k == 1:
        return np.concatenate((1.0 - p, p), axis=1)
    return p


def stack(networks: Sequence[tuple[Sequence[Array], Sequence[Array]]]) -> tuple[list[Array], list[Array]]:
    """Side-by-side networks of one architecture, as the ``(coefs, intercepts)`` of one wider network.

    The first layer's weights are concatenated column-wise (every member reads the same input); later
    layers are block-diagonal, so no member sees another's units. Output ``j`` of member ``m`` becomes
    column ``m * n_outputs + j``.
    """
    shapes = [w.shape for w in networks[0][0]]
    for coefs, _ in networks:
        if [w.shape for w in coefs] != shapes:
            raise ValueError(
                f"Networks to stack must share one architecture; got {[w.shape for w in coefs]} and {shapes}."
            )
    m = len(networks)
    coefs = [np.hstack([c[0] for c, _ in networks])]
    for layer in range(1, len(shapes)):
        fan_in, fan_out = shapes[layer]
        w = np.zeros((m * fan_in, m * fan_out))
        for i, (c, _) in enumerate(networks):
            w[i * fan_in : (i + 1) * fan_in, i * fan_out : (i + 1) * fan_out] = c[layer]
        coefs.append(w)
    intercepts = [np.concatenate([b[layer] for _, b in networks]) for layer in range(len(shapes))]
    return coefs, intercepts
