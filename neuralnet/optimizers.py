"""Gradient-descent update rules, each a class with one ``update_params(params, grads)``.

``params`` and ``grads`` are the flat parameter and gradient vectors of :class:`neuralnet.network.Params`;
updates happen in place, through preallocated buffers, because the training loop calls them once per
mini-batch and a network this small spends most of its time in per-call overhead.
"""

from typing import Protocol

import numpy as np

from neuralnet.activations import Array

OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")


class Optimizer(Protocol):
    """What the training loop needs from an update rule."""

    def update_params(self, params: Array, grads: Array) -> None:
        """Move ``params`` one step against ``grads``, in place."""


class SGD:
    """Plain gradient descent: ``w -= learning_rate * g`` (the tutorial's rule)."""

    def __init__(self, n_params: int, learning_rate: float) -> None:
        self.learning_rate = learning_rate
        self._step = np.empty(n_params)

    def update_params(self, params: Array, grads: Array) -> None:
        np.multiply(grads, self.learning_rate, out=self._step)
        params -= self._step


class Momentum:
    """Gradient descent with momentum ``v = mu * v - lr * g; w += v``.

    With ``nesterov=True`` the step looks ahead along the velocity, ``w += mu * v - lr * g`` (the
    Sutskever et al. 2013 formulation used by most libraries).
    """

    def __init__(self, n_params: int, learning_rate: float, momentum: float = 0.9, nesterov: bool = False):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self._velocity = np.zeros(n_params)
        self._step = np.empty(n_params)

    def update_params(self, params: Array, grads: Array) -> None:
        v, step = self._velocity, self._step
        np.multiply(grads, self.learning_rate, out=step)
        v *= self.momentum
        v -= step
        if self.nesterov:
            params -= step
            np.multiply(v, self.momentum, out=step)
            params += step
        else:
            params += v


class Adam:
    """Adam (Kingma & Ba 2015): per-parameter steps from bias-corrected moment estimates."""

    def __init__(
        self,
        n_params: int,
        learning_rate: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.t = 0
        self._m = np.zeros(n_params)
        self._v = np.zeros(n_params)
        self._tmp = np.empty(n_params)

    def update_params(self, params: Array, grads: Array) -> None:
        m, v, tmp = self._m, self._v, self._tmp
        self.t += 1
        # m = beta_1 m + (1 - beta_1) g, v = beta_2 v + (1 - beta_2) g^2, in place
        m *= self.beta_1
        np.multiply(grads, 1.0 - self.beta_1, out=tmp)
        m += tmp
        v *= self.beta_2
        np.multiply(grads, grads, out=tmp)
        tmp *= 1.0 - self.beta_2
        v += tmp
        # Bias correction folded into the step size, as in the paper's efficient version.
        lr_t = self.learning_rate * np.sqrt(1.0 - self.beta_2**self.t) / (1.0 - self.beta_1**self.t)
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        np.divide(m, tmp, out=tmp)
        tmp *= lr_t
        params -= tmp


class RMSprop:
    """RMSprop (Hinton's lecture 6e): divide each step by a running RMS of that parameter's gradients."""

    def __init__(self, n_params: int, learning_rate: float = 1e-3, rho: float = 0.9, epsilon: float = 1e-8):
        self.learning_rate = learning_rate
        self.rho = rho
        self.epsilon = epsilon
        self._s = np.zeros(n_params)
        self._tmp = np.empty(n_params)

    def update_params(self, params: Array, grads: Array) -> None:
        s, tmp = self._s, self._tmp
        s *= self.rho
        np.multiply(grads, grads, out=tmp)
        tmp *= 1.0 - self.rho
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.epsilon
        np.divide(grads, tmp, out=tmp)
        tmp *= self.learning_rate
        params -= tmp


def make_optimizer(
    name: str,
    n_params: int,
    *,
    learning_rate: float,
    momentum: float = 0.9,
    nesterov: bool = False,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    rho: float = 0.9,
    epsilon: float = 1e-8,
) -> Optimizer:
    """The optimizer called ``name``, with only the hyper-parameters that rule uses."""
    if name == "sgd":
        return SGD(n_params, learning_rate)
    if name == "momentum":
        return Momentum(n_params, learning_rate, momentum, nesterov)
    if name == "adam":
        return Adam(n_params, learning_rate, beta_1, beta_2, epsilon)
    if name == "rmsprop":
        return RMSprop(n_params, learning_rate, rho, epsilon)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {name!r}.")
