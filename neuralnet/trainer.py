"""The training loop: epochs of (mini-)batches, dropout, and the two stopping rules.

It knows nothing about scikit-learn: it takes arrays and already-validated settings, updates the
parameters in place and reports what happened. Per batch it does one forward pass, one backward pass
into a reused gradient buffer and one in-place optimizer step; per epoch one shuffle of the whole
training set (so that batches are contiguous slices, not fancy-indexed copies).
"""

import math
from dataclasses import dataclass, field

import numpy as np

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
    """What a run did: the curves, the epoch whose weights were kept, and why it stopped."""

    loss_curve: list[float] = field(default_factory=list)
    validation_scores: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False

    @property
    def n_iter(self) -> int:
        return len(self.loss_curve)


class NonFiniteLossError(ValueError):
    """Training diverged: the loss became inf or NaN."""


def _dropout_masks(rng: np.random.RandomState, n_rows: int, widths: list[int], dropout: float) -> list[Array] | None:
    """Inverted-dropout masks: 0 with probability ``dropout``, else ``1 / keep`` (no rescale at predict)."""
    if dropout == 0.0:
        return None
    keep = 1.0 - dropout
    return [(rng.random_sample((n_rows, width)) < keep) / keep for width in widths]


def train(
    params: Params,
    optimizer: Optimizer,
    X: Array,
    y: Array,
    config: TrainingConfig,
    *,
    rng: np.random.RandomState,
    validation: tuple[Array, Array] | None = None,
) -> TrainingResult:
    """Fit ``params`` in place; with ``validation`` data, keep the weights of the best validation epoch.

    Stopping: with validation data, after ``n_iter_no_change`` epochs without the validation score
    (minus the mean validation loss) improving by more than ``tol``; otherwise after as many epochs
    without the training loss falling by more than ``tol``, as in scikit-learn's MLP.
    """
    n = X.shape[0]
    batch = n if config.batch_size is None else min(config.batch_size, n)
    shuffle = config.shuffle and batch < n  # a full batch sums the same samples in any order
    X_epoch, y_epoch = (np.empty_like(X), np.empty_like(y)) if shuffle else (X, y)
    grads = allocate([w.shape[0] for w in params.coefs] + [y.shape[1]], params.fit_intercept)
    widths = [w.shape[1] for w in params.coefs[:-1]]
    result = TrainingResult()
    best = np.inf
    best_flat = params.flat.copy()
    patience = config.n_iter_no_change
    bad_epochs = 0

    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below, not warned about
        for epoch in range(config.max_iter):
            if shuffle:
                order = rng.permutation(n)
                np.take(X, order, axis=0, out=X_epoch)
                np.take(y, order, axis=0, out=y_epoch)
            epoch_loss = 0.0
            for start in range(0, n, batch):
                Xb, yb = X_epoch[start : start + batch], y_epoch[start : start + batch]
                masks = _dropout_masks(rng, Xb.shape[0], widths, config.dropout)
                acts = forward(params.coefs, params.intercepts, Xb, config.activation, masks)
                batch_loss, _ = backward(
                    params,
                    acts,
                    yb,
                    activation=config.activation,
                    loss=config.loss,
                    alpha=config.alpha,
                    reduction=config.reduction,
                    masks=masks,
                    out=grads,
                )
                optimizer.update_params(params.flat, grads.flat)
                epoch_loss += batch_loss * Xb.shape[0] if config.reduction == "mean" else batch_loss
            epoch_loss = epoch_loss / n if config.reduction == "mean" else epoch_loss
            if not math.isfinite(epoch_loss):
                raise NonFiniteLossError(
                    f"The training loss became {epoch_loss} at epoch {epoch + 1}: training diverged. "
                    "Scale the inputs (e.g. StandardScaler) or lower learning_rate."
                )
            result.loss_curve.append(epoch_loss)

            if validation is not None:
                X_val, y_val = validation
                z_val = forward(params.coefs, params.intercepts, X_val, config.activation)[-1]
                score = -LOSSES[config.loss](z_val, y_val)[0] / X_val.shape[0]
                result.validation_scores.append(score)
                monitored = -score
                if monitored < best:
                    best_flat[...] = params.flat
                    result.best_epoch = epoch + 1
            else:
                monitored = epoch_loss
                result.best_epoch = epoch + 1
            bad_epochs = bad_epochs + 1 if monitored > best - config.tol else 0
            best = min(best, monitored)
            if patience is not None and bad_epochs >= patience:
                result.stopped_early = True
                break

    if validation is not None:
        params.flat[...] = best_flat
    return result
