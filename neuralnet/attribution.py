"""Integrated gradients: how much each feature moved a class probability away from a baseline record.

For a record ``x`` and a baseline ``x0``, feature ``i`` gets ``(x_i - x0_i) * integral over t in [0, 1] of
dP/dx_i at x0 + t (x - x0)``. The attributions add up to ``P(x) - P(x0)`` (completeness), so they split
the difference between the record's probability and the baseline's among the features. The gradients come
from the network's own backpropagation (:func:`neuralnet.network.input_gradient`), not from perturbing
inputs; the integral is a Gauss-Legendre quadrature, exact to rounding for the smooth paths of a tanh
network once the nodes resolve the sigmoid's steepest stretch, and its error is measured on every record
(:attr:`Attributions.completeness_error`): if a record's error exceeds the tolerance, its integral is
redone with twice the nodes, up to :data:`MAX_NODES`. (A relu network's path has kinks, which quadrature
resolves slowly: its errors stay around 1e-4 in probability, as reported.)

The baseline is the origin of the standardised space, i.e. the training mean of every feature: attributions
read as "compared with an average training record". Integrated gradients are unchanged by a per-feature
affine rescaling, so they are computed on standardised inputs and hold for the raw ones.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from neuralnet.activations import OUTPUT_ACTIVATIONS
from neuralnet.aliases import Array
from neuralnet.network import forward, input_gradient

NODES: Final = 32
"""Gauss-Legendre nodes of the first attempt: enough for nearly every record (the README gives the figures)."""
MAX_NODES: Final = 512
TOLERANCE: Final = 1e-6
"""Completeness is held to this, relative to ``|P(x) - P(baseline)|`` (absolute below 1e-3 of difference)."""


@dataclass(frozen=True, slots=True)
class Attributions:
    """Per-row attributions of one class's probability, with the probabilities they explain.

    ``values`` is ``(n_rows, n_features)`` and sums, per row, to ``probability - baseline_probability`` up to
    ``completeness_error`` (the absolute gap, per row).
    """

    values: Array
    probability: Array
    baseline_probability: float
    completeness_error: Array
    nodes: Array


def class_probability_and_delta(
    z: Array, output_activation: str, n_members: int, class_index: int
) -> tuple[Array, Array]:
    """P(class) for each row of output logits ``z`` (members averaged) and its derivative with respect to ``z``."""
    n, width = z.shape
    k = width // n_members
    p = OUTPUT_ACTIVATIONS[output_activation](z.reshape(n * n_members, k) if k > 1 else z).reshape(n, n_members, k)
    if k == 1:  # one sigmoid unit per member: P(classes[1]) = p, P(classes[0]) = 1 - p
        sign = 1.0 if class_index == 1 else -1.0
        delta = sign * p * (1.0 - p)
        probability = p[..., 0].mean(axis=1) if class_index == 1 else (1.0 - p[..., 0]).mean(axis=1)
    else:  # softmax per member: dp_c/dz_j = p_c (1[c = j] - p_j)
        p_class = p[..., class_index : class_index + 1]
        delta = -p_class * p
        delta[..., class_index] += p_class[..., 0]
        probability = p_class[..., 0].mean(axis=1)
    return probability, delta.reshape(n, width) / n_members


def integrated_gradients(
    coefs: Sequence[Array],
    intercepts: Sequence[Array],
    Z: Array,
    *,
    activation: str,
    output_activation: str,
    n_members: int,
    class_index: int,
) -> Attributions:
    """Attributions of P(``class_index``) for each row of the standardised ``Z``, against the origin."""
    network = ClassProbability(coefs, intercepts, activation, output_activation, n_members, class_index)
    p_baseline = float(network.probability(np.zeros((1, Z.shape[1])))[0])
    p_rows = network.probability(Z)
    gap = p_rows - p_baseline
    tolerance = TOLERANCE * np.maximum(np.abs(gap), 1e-3)
    values = np.empty_like(Z)
    errors = np.empty(Z.shape[0])
    nodes = np.full(Z.shape[0], NODES)
    todo = np.arange(Z.shape[0])
    while todo.size:
        values[todo] = network.integrate(Z[todo], int(nodes[todo[0]]))  # rows still to do share a node count
        errors[todo] = np.abs(values[todo].sum(axis=1) - gap[todo])
        todo = todo[(errors[todo] > tolerance[todo]) & (nodes[todo] < MAX_NODES)]
        nodes[todo] *= 2
    return Attributions(values, p_rows, p_baseline, errors, nodes)


@dataclass(frozen=True, slots=True)
class ClassProbability:
    """P(``class_index``) as a function of standardised inputs, for the weights of a network (or stacked members)."""

    coefs: Sequence[Array]
    intercepts: Sequence[Array]
    activation: str
    output_activation: str
    n_members: int
    class_index: int

    def probability(self, Z: Array) -> Array:
        z = forward(self.coefs, self.intercepts, Z, self.activation)[-1]
        return class_probability_and_delta(z, self.output_activation, self.n_members, self.class_index)[0]

    def gradient(self, Z: Array) -> Array:
        """dP/dZ for each row: one forward pass and backpropagation to the input."""
        activations = forward(self.coefs, self.intercepts, Z, self.activation)
        z = activations[-1]
        _, delta = class_probability_and_delta(z, self.output_activation, self.n_members, self.class_index)
        return input_gradient(self.coefs, activations, delta, self.activation)

    def integrate(self, Z: Array, n_nodes: int) -> Array:
        """``Z * integral of the gradient along the straight path from the origin``: all rows and nodes in one pass."""
        t, w = _nodes(n_nodes)
        n, f = Z.shape
        path = (t[None, :, None] * Z[:, None, :]).reshape(n * n_nodes, f)
        integral: Array = np.einsum("k,nkf->nf", w, self.gradient(path).reshape(n, n_nodes, f))
        return Z * integral


_NODE_CACHE: dict[int, tuple[Array, Array]] = {}


def _nodes(n: int) -> tuple[Array, Array]:
    """Gauss-Legendre nodes and weights on [0, 1]."""
    if n not in _NODE_CACHE:
        x, w = np.polynomial.legendre.leggauss(n)
        _NODE_CACHE[n] = ((x + 1.0) / 2.0, w / 2.0)
    return _NODE_CACHE[n]
