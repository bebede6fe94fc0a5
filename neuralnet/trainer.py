"""The training loop: epochs of (mini-)batches, dropout, and the two stopping rules, for a stack of networks.

It knows nothing about scikit-learn: it takes arrays and already-validated settings and reports what
happened. It reads as Nielsen's ``SGD`` -> ``update_mini_batch`` -> ``backprop``: :func:`train_stack` runs
epochs and decides when each network stops, :func:`_epoch` shuffles once and walks the batches (contiguous
slices, not fancy-indexed copies), :func:`_update_mini_batch` does one forward pass, one backward pass into
a reused gradient buffer and one in-place optimizer step. All of this is done for every network of the
stack at once, each on its own rows with its own random generator; a network that stops early leaves the
stack, and the others go on.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from neuralnet.aliases import Array, Reduction
from neuralnet.losses import LOSSES
from neuralnet.network import Params, allocate, backward, forward
from neuralnet.optimizers import Optimizer


@dataclass(frozen=True)
class LoopSettings:
    """Settings of one training run (validated by the estimator)."""

    activation: str
    loss: str
    alpha: float = 0.0
    reduction: Reduction = "mean"
    batch_size: int | None = None  # None: full batch
    max_iter: int = 200
    shuffle: bool = True
    dropout: float = 0.0
    tol: float = 1e-4
    n_iter_no_change: int | None = 10  # None: always run max_iter epochs


@dataclass
class LoopResult:
    """What a run did to one network: its curves, the epoch whose weights were kept, why it stopped, and those
    weights (one row of :class:`~neuralnet.network.Params`)."""

    loss_curve: list[float] = field(default_factory=list)
    validation_scores: list[float] = field(default_factory=list)
    best_epoch: int = 0  # with validation data; without, the weights kept are the last epoch's
    stopped_early: bool = False
    weights: Array = field(default_factory=lambda: np.empty(0))

    @property
    def n_iter(self) -> int:
        return len(self.loss_curve)


class NonFiniteLossError(ValueError):
    """Training diverged: the loss became inf or NaN."""


def dropout_masks(
    rngs: Sequence[np.random.RandomState], n_rows: int, widths: list[int], dropout: float
) -> list[Array] | None:
    """Inverted-dropout masks, ``(n_networks, n_rows, width)`` per hidden layer: 0 with probability
    ``dropout``, else ``1 / keep`` (no rescale at predict). Each network draws from its own generator."""
    if dropout == 0.0:
        return None
    keep = 1.0 - dropout
    draws = [[rng.random_sample((n_rows, width)) for width in widths] for rng in rngs]
    return [(np.stack([d[layer] for d in draws]) < keep) / keep for layer in range(len(widths))]


@dataclass
class _Stack:
    """The networks of a run still training: their parameters, data, generators, stopping state and buffers."""

    index: NDArray[np.intp]  # position of each in the caller's stack
    params: Params
    X: Array
    y: Array
    validation: tuple[Array, Array] | None
    rngs: list[np.random.RandomState]
    best: Array  # best monitored loss so far
    bad_epochs: NDArray[np.intp]
    best_flat: Array
    shuffle: bool
    widths: list[int] = field(init=False)  # of the hidden layers
    grads: Params = field(init=False)  # the gradient buffer every batch writes into
    X_epoch: Array = field(init=False)  # the rows in this epoch's order (the data itself when not shuffled)
    y_epoch: Array = field(init=False)

    def __post_init__(self) -> None:
        self.widths = self.params.layer_sizes[1:-1]
        self.grads = allocate(self.params.layer_sizes, self.params.fit_intercept, self.params.flat.shape[0])
        self.X_epoch = np.empty(self.X.shape) if self.shuffle else self.X
        self.y_epoch = np.empty(self.y.shape) if self.shuffle else self.y

    def keep(self, rows: NDArray[np.bool_]) -> "_Stack":
        validation = None if self.validation is None else (self.validation[0][rows], self.validation[1][rows])
        return _Stack(
            index=self.index[rows],
            params=self.params.select(rows),
            X=self.X[rows],
            y=self.y[rows],
            validation=validation,
            rngs=[rng for rng, kept in zip(self.rngs, rows, strict=True) if kept],
            best=self.best[rows],
            bad_epochs=self.bad_epochs[rows],
            best_flat=self.best_flat[rows],
            shuffle=self.shuffle,
        )


def train_stack(
    params: Params,
    optimizer: Optimizer,
    X: Array,
    y: Array,
    settings: LoopSettings,
    *,
    rngs: Sequence[np.random.RandomState],
    validation: tuple[Array, Array] | None = None,
) -> list[LoopResult]:
    """Fit the stack ``params``: network ``k`` on ``X[k], y[k]`` (``(n_networks, n_rows, width)`` arrays)
    with generator ``rngs[k]``, and with ``validation`` data ``(X_val[k], y_val[k])`` keep the weights of its
    best validation epoch. ``optimizer`` was made for ``params.flat.shape``; ``params`` itself is left at a
    later state. The results come in stack order, each with its final weights.

    Stopping, per network: with validation data, after ``n_iter_no_change`` epochs without the validation
    score (minus the mean validation loss) improving by more than ``tol``; otherwise after as many epochs
    without the training loss falling by more than ``tol``, as in scikit-learn's MLP.
    """
    n_networks, n = X.shape[:2]
    batch = n if settings.batch_size is None else min(settings.batch_size, n)
    stack = _Stack(
        index=np.arange(n_networks),
        params=params,
        X=X,
        y=y,
        validation=validation,
        rngs=list(rngs),
        best=np.full(n_networks, np.inf),
        bad_epochs=np.zeros(n_networks, dtype=np.intp),
        best_flat=params.flat.copy(),
        shuffle=settings.shuffle and batch < n,  # a full batch sums the same samples in any order
    )
    results = [LoopResult() for _ in range(n_networks)]
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported by _check_finite, not warned about
        for epoch in range(1, settings.max_iter + 1):
            epoch_loss = _epoch(stack, optimizer, settings, batch)
            _check_finite(epoch_loss, epoch)
            _record([result.loss_curve for result in results], stack.index, epoch_loss)
            monitored = _monitored_loss(stack, results, settings, epoch, epoch_loss)
            done = _out_of_patience(stack, settings, monitored)
            if done.any():
                _finish(stack, done, results, stopped_early=True)
                if done.all():
                    return results
                stack = stack.keep(~done)
                optimizer.keep(~done)
    _finish(stack, np.ones(len(stack.rngs), dtype=bool), results, stopped_early=False)
    return results


def _epoch(stack: _Stack, optimizer: Optimizer, settings: LoopSettings, batch: int) -> Array:
    """One pass over the (shuffled) rows in batches of ``batch``: each network's mean or summed objective."""
    if stack.shuffle:
        _shuffle_into(stack)
    n = stack.X_epoch.shape[1]
    mean = settings.reduction == "mean"
    epoch_loss = np.zeros(len(stack.rngs))
    for start in range(0, n, batch):
        Xb, yb = stack.X_epoch[:, start : start + batch], stack.y_epoch[:, start : start + batch]
        batch_loss = _update_mini_batch(stack, optimizer, settings, Xb, yb)
        epoch_loss += batch_loss * Xb.shape[1] if mean else batch_loss
    if mean:
        epoch_loss /= n
    return epoch_loss


def _update_mini_batch(stack: _Stack, optimizer: Optimizer, settings: LoopSettings, Xb: Array, yb: Array) -> Array:
    """One gradient step of every network on its batch ``Xb, yb``; returns each network's batch objective."""
    masks = dropout_masks(stack.rngs, Xb.shape[1], stack.widths, settings.dropout)
    acts = forward(stack.params.coefs, stack.params.intercepts, Xb, settings.activation, masks)
    batch_loss, _ = backward(
        stack.params,
        acts,
        yb,
        activation=settings.activation,
        loss=settings.loss,
        alpha=settings.alpha,
        reduction=settings.reduction,
        masks=masks,
        out=stack.grads,
    )
    optimizer.update_params(stack.params.flat, stack.grads.flat)
    return batch_loss


def _shuffle_into(stack: _Stack) -> None:
    """Each network's rows in a new order of its own generator, gathered into the epoch buffers."""
    n_networks, n = stack.X.shape[:2]
    rows = np.stack([rng.permutation(n) for rng in stack.rngs])
    rows += np.arange(0, n_networks * n, n)[:, None]  # indices into the networks' rows laid end to end
    np.take(stack.X.reshape(n_networks * n, -1), rows.ravel(), axis=0, out=stack.X_epoch.reshape(n_networks * n, -1))
    np.take(stack.y.reshape(n_networks * n, -1), rows.ravel(), axis=0, out=stack.y_epoch.reshape(n_networks * n, -1))


def _check_finite(epoch_loss: Array, epoch: int) -> None:
    if not np.all(np.isfinite(epoch_loss)):
        bad = float(epoch_loss[~np.isfinite(epoch_loss)][0])
        raise NonFiniteLossError(
            f"The training loss became {bad} at epoch {epoch}: training diverged. "
            "Scale the inputs (e.g. StandardScaler) or lower learning_rate."
        )


def _record(curves: list[list[float]], index: NDArray[np.intp], values: Array) -> None:
    """Append the value of the stack's network at each position to the curve ``curves[index[position]]``."""
    for k, value in zip(index, values.tolist(), strict=True):
        curves[k].append(value)


def _monitored_loss(
    stack: _Stack, results: list[LoopResult], settings: LoopSettings, epoch: int, epoch_loss: Array
) -> Array:
    """The loss the stopping rule watches: the mean validation loss when there is validation data (whose best
    epoch's weights are kept), else the training objective."""
    if stack.validation is None:
        return epoch_loss
    X_val, y_val = stack.validation
    z_val = forward(stack.params.coefs, stack.params.intercepts, X_val, settings.activation)[-1]
    monitored: Array = LOSSES[settings.loss](z_val, y_val)[0] / X_val.shape[1]
    _record([result.validation_scores for result in results], stack.index, -monitored)
    improved = monitored < stack.best
    stack.best_flat[improved] = stack.params.flat[improved]
    for k in stack.index[improved]:
        results[k].best_epoch = epoch
    return monitored


def _out_of_patience(stack: _Stack, settings: LoopSettings, monitored: Array) -> NDArray[np.bool_]:
    """Count each network's epochs without an improvement of more than ``tol``; which ones have had enough."""
    stack.bad_epochs = np.where(monitored > stack.best - settings.tol, stack.bad_epochs + 1, 0)
    stack.best = np.minimum(stack.best, monitored)
    if settings.n_iter_no_change is None:
        return np.zeros(len(stack.rngs), dtype=bool)
    done: NDArray[np.bool_] = stack.bad_epochs >= settings.n_iter_no_change
    return done


def _finish(stack: _Stack, rows: NDArray[np.bool_], results: list[LoopResult], *, stopped_early: bool) -> None:
    """Record the kept weights of the networks ``rows``: the best validation epoch's, else the last."""
    weights = stack.best_flat if stack.validation is not None else stack.params.flat
    for position in np.flatnonzero(rows):
        result = results[stack.index[position]]
        result.stopped_early = stopped_early
        result.weights = weights[position].copy()
