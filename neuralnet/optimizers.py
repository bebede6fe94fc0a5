"""Gradient-descent update rules, each a class with one ``update_params(params, grads)``.

``params`` and ``grads`` are the flat parameter and gradient arrays of :class:`neuralnet.network.Params`
(one row per network of a stack); updates happen in place, through preallocated buffers of that shape,
because the training loop calls them once per mini-batch and a network this small spends most of its time
in per-call overhead. Every rule acts element by element, so the networks of a stack never mix.
"""

from typing import Any, ClassVar, Protocol

import numpy as np

from neuralnet.aliases import Array

OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")

Shape = int | tuple[int, ...]


class Optimizer(Protocol):
    """What the training loop needs from an update rule."""

    def update_params(self, params: Array, grads: Array) -> None:
        """Move ``params`` one step against ``grads``, in place."""

    def keep(self, rows: Any) -> None:
        """Keep only the state of the networks ``rows`` (when the others of the stack stop training)."""


class _Buffered:
    """An update rule whose state lives in per-parameter arrays named by ``_buffers``."""

    _buffers: ClassVar[tuple[str, ...]]

    def keep(self, rows: Any) -> None:
        for name in self._buffers:
            setattr(self, name, getattr(self, name)[rows])


class SGD(_Buffered):
    """Plain gradient descent: ``w -= learning_rate * g`` (the tutorial's rule)."""

    _buffers = ("_step",)

    def __init__(self, shape: Shape, learning_rate: float) -> None:
        self.learning_rate = learning_rate
        self._step = np.empty(shape)

    def update_params(self, params: Array, grads: Array) -> None:
        np.multiply(grads, self.learning_rate, out=self._step)
        params -= self._step


class Momentum(_Buffered):
    """Gradient descent with momentum ``v = mu * v - lr * g; w += v``.

    With ``nesterov=True`` the step looks ahead along the velocity, ``w += mu * v - lr * g`` (the
    Sutskever et al. 2013 formulation used by most libraries).
    """

    _buffers = ("_velocity", "_step")

    def __init__(self, shape: Shape, learning_rate: float, momentum: float = 0.9, nesterov: bool = False):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self._velocity = np.zeros(shape)
        self._step = np.empty(shape)

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


class Adam(_Buffered):
    """Adam (Kingma & Ba 2015): per-parameter steps from bias-corrected moment estimates."""

    _buffers = ("_m", "_v", "_tmp")

    def __init__(
        self,
        shape: Shape,
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
        self._m = np.zeros(shape)
        self._v = np.zeros(shape)
        self._tmp = np.empty(shape)

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


class RMSprop(_Buffered):
    """RMSprop (Hinton's lecture 6e): divide each step by a running RMS of that parameter's gradients."""

    _buffers = ("_s", "_tmp")

    def __init__(self, shape: Shape, learning_rate: float = 1e-3, rho: float = 0.9, epsilon: float = 1e-8):
        self.learning_rate = learning_rate
        self.rho = rho
        self.epsilon = epsilon
        self._s = np.zeros(shape)
        self._tmp = np.empty(shape)

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
    shape: Shape,
    *,
    learning_rate: float,
    momentum: float = 0.9,
    nesterov: bool = False,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    rho: float = 0.9,
    epsilon: float = 1e-8,
) -> Optimizer:
    """The optimizer called ``name`` for parameters of ``shape``, with only the hyper-parameters it uses."""
    if name == "sgd":
        return SGD(shape, learning_rate)
    if name == "momentum":
        return Momentum(shape, learning_rate, momentum, nesterov)
    if name == "adam":
        return Adam(shape, learning_rate, beta_1, beta_2, epsilon)
    if name == "rmsprop":
        return RMSprop(shape, learning_rate, rho, epsilon)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {name!r}.")
