"""The training loop: epochs of (mini-)batches, dropout, and the two stopping rules, for a stack of networks.

It knows nothing about scikit-learn: it takes arrays and already-validated settings and reports what
happened. Per batch it does one forward pass, one backward pass into a reused gradient buffer and one
in-place optimizer step; per epoch one shuffle of the whole training set (so that batches are contiguous
slices, not fancy-indexed copies). All of this is done for every network of the stack at once, each on its
own rows with its own random generator; a network that stops early leaves the stack, and the others go on.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from neuralnet.activations import Array
from neuralnet.losses import LOSSES
from neuralnet.network import Params, Reduction, allocate, backward, forward
from neuralnet.optimizers import Optimizer


@dataclass(frozen=True)
class TrainingConfig:
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
class TrainingResult:
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


def _dropout_masks(
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
    """The networks of a run still training: their parameters, data, generators and stopping state."""

    index: NDArray[np.intp]  # position of each in the caller's stack
    params: Params
    X: Array
    y: Array
    validation: tuple[Array, Array] | None
    rngs: list[np.random.RandomState]
    best: Array  # best monitored loss so far
    bad_epochs: NDArray[np.intp]
    best_flat: Array

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
        )


def train(
    params: Params,
    optimizer: Optimizer,
    X: Array,
    y: Array,
    config: TrainingConfig,
    *,
    rngs: Sequence[np.random.RandomState],
    validation: tuple[Array, Array] | None = None,
) -> list[TrainingResult]:
    """Fit the stack ``params``: network ``k`` on ``X[k], y[k]`` (``(n_networks, n_rows, width)`` arrays)
    with generator ``rngs[k]``, and with ``validation`` data ``(X_val[k], y_val[k])`` keep the weights of its
    best validation epoch. ``optimizer`` was made for ``params.flat.shape``; ``params`` itself is left at a
    later state. The results come in stack order, each with its final weights.

    Stopping, per network: with validation data, after ``n_iter_no_change`` epochs without the validation
    score (minus the mean validation loss) improving by more than ``tol``; otherwise after as many epochs
    without the training loss falling by more than ``tol``, as in scikit-learn's MLP.
    """
    n_networks, n = X.shape[:2]
    batch = n if config.batch_size is None else min(config.batch_size, n)
    shuffle = config.shuffle and batch < n  # a full batch sums the same samples in any order
    widths = params.layer_sizes[1:-1]
    results = [TrainingResult() for _ in range(n_networks)]
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
    )
    patience = config.n_iter_no_change
    grads, X_epoch, y_epoch = _buffers(stack, shuffle)

    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below, not warned about
        for epoch in range(config.max_iter):
            if shuffle:
                _shuffle_into(stack, X_epoch, y_epoch)
            epoch_loss = _epoch(stack, optimizer, grads, X_epoch, y_epoch, config=config, batch=batch, widths=widths)
            if not np.all(np.isfinite(epoch_loss)):
                bad = float(epoch_loss[~np.isfinite(epoch_loss)][0])
                raise NonFiniteLossError(
                    f"The training loss became {bad} at epoch {epoch + 1}: training diverged. "
                    "Scale the inputs (e.g. StandardScaler) or lower learning_rate."
                )
            for k, value in zip(stack.index, epoch_loss.tolist(), strict=True):
                results[k].loss_curve.append(value)

            if stack.validation is not None:
                X_val, y_val = stack.validation
                z_val = forward(stack.params.coefs, stack.params.intercepts, X_val, config.activation)[-1]
                monitored = LOSSES[config.loss](z_val, y_val)[0] / X_val.shape[1]
                for k, value in zip(stack.index, (-monitored).tolist(), strict=True):
                    results[k].validation_scores.append(value)
                improved = monitored < stack.best
                stack.best_flat[improved] = stack.params.flat[improved]
                for k in stack.index[improved]:
                    results[k].best_epoch = epoch + 1
            else:
                monitored = epoch_loss
            stack.bad_epochs = np.where(monitored > stack.best - config.tol, stack.bad_epochs + 1, 0)
            stack.best = np.minimum(stack.best, monitored)
            if patience is not None:
                done = stack.bad_epochs >= patience
                if done.any():
                    _finish(stack, done, results, stopped_early=True)
                    if done.all():
                        return results
                    stack = stack.keep(~done)
                    optimizer.keep(~done)
                    grads, X_epoch, y_epoch = _buffers(stack, shuffle)

    _finish(stack, np.ones(len(stack.rngs), dtype=bool), results, stopped_early=False)
    return results


def _epoch(
    stack: _Stack,
    optimizer: Optimizer,
    grads: Params,
    X_epoch: Array,
    y_epoch: Array,
    *,
    config: TrainingConfig,
    batch: int,
    widths: list[int],
) -> Array:
    """One pass over the (shuffled) rows in batches of ``batch``: each network's mean or summed objective."""
    n = X_epoch.shape[1]
    mean = config.reduction == "mean"
    epoch_loss = np.zeros(len(stack.rngs))
    for start in range(0, n, batch):
        Xb, yb = X_epoch[:, start : start + batch], y_epoch[:, start : start + batch]
        masks = _dropout_masks(stack.rngs, Xb.shape[1], widths, config.dropout)
        acts = forward(stack.params.coefs, stack.params.intercepts, Xb, config.activation, masks)
        batch_loss, _ = backward(
            stack.params,
            acts,
            yb,
            activation=config.activation,
            loss=config.loss,
            alpha=config.alpha,
            reduction=config.reduction,
            masks=masks,
            out=grads,
        )
        optimizer.update_params(stack.params.flat, grads.flat)
        epoch_loss += batch_loss * Xb.shape[1] if mean else batch_loss
    if mean:
        epoch_loss /= n
    return epoch_loss


def _buffers(stack: _Stack, shuffle: bool) -> tuple[Params, Array, Array]:
    """A gradient buffer for the stack, and the arrays its epochs read batches from (shuffled copies)."""
    grads = allocate(stack.params.layer_sizes, stack.params.fit_intercept, stack.params.flat.shape[0])
    if not shuffle:
        return grads, stack.X, stack.y
    return grads, np.empty(stack.X.shape), np.empty(stack.y.shape)


def _shuffle_into(stack: _Stack, X_epoch: Array, y_epoch: Array) -> None:
    """Each network's rows in a new order of its own generator, gathered into the epoch buffers."""
    n_networks, n = stack.X.shape[:2]
    rows = np.stack([rng.permutation(n) for rng in stack.rngs])
    rows += np.arange(0, n_networks * n, n)[:, None]  # indices into the networks' rows laid end to end
    np.take(stack.X.reshape(n_networks * n, -1), rows.ravel(), axis=0, out=X_epoch.reshape(n_networks * n, -1))
    np.take(stack.y.reshape(n_networks * n, -1), rows.ravel(), axis=0, out=y_epoch.reshape(n_networks * n, -1))


def _finish(stack: _Stack, rows: NDArray[np.bool_], results: list[TrainingResult], *, stopped_early: bool) -> None:
    """Record the kept weights of the networks ``rows``: the best validation epoch's, else the last."""
    weights = stack.best_flat if stack.validation is not None else stack.params.flat
    for position in np.flatnonzero(rows):
        result = results[stack.index[position]]
        result.stopped_early = stopped_early
        result.weights = weights[position].copy()
