"""What the classifier and the regressor share: hyper-parameters, the fit procedure, learned attributes.

Subclasses only translate targets into network outputs (``_encode_targets``) and outputs back into
predictions; the math lives in :mod:`neuralnet.network` and the loop in :mod:`neuralnet.trainer`.
"""

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from neuralnet import hyperparameters
from neuralnet.aliases import Array, Reduction
from neuralnet.caller import warn_at_caller
from neuralnet.losses import OUTPUT_ACTIVATION
from neuralnet.network import init_params, wrap
from neuralnet.stacking import FitJob, FitPlan, fit_together
from neuralnet.trainer import LoopResult, LoopSettings

_OPTIMIZER_SETTINGS = ("learning_rate", "momentum", "nesterov", "beta_1", "beta_2", "rho", "epsilon")


class BaseNeuralNet(BaseEstimator):
    """Fully connected feed-forward network trained by backpropagation.

    Parameters
    ----------
    hidden_layer_sizes : sequence of int, default=(100,)
        Width of each hidden layer; ``()`` gives a network without hidden layers (a linear model).
    activation : {"relu", "tanh", "sigmoid", "identity"}, default="relu"
        Activation of the hidden layers. The output activation follows from the task and the loss.
    optimizer : {"adam", "sgd", "momentum", "rmsprop"}, default="adam"
        Update rule (:mod:`neuralnet.optimizers`).
    learning_rate : float, default=1e-3
        Step size of every optimizer.
    alpha : float, default=1e-4
        L2 penalty: the objective adds ``alpha / 2 * ||W||^2`` (coefficients, not intercepts), divided by
        the batch size when ``reduction="mean"``, as in scikit-learn's MLP.
    batch_size : int or None, default=200
        Rows per gradient step; ``None`` (or any size >= n_samples) trains full-batch.
    max_iter : int, default=200
        Maximum number of epochs (passes over the training data).
    tol : float, default=1e-4
        Smallest improvement of the monitored loss that resets the patience counter.
    n_iter_no_change : int or None, default=10
        Stop after this many epochs without improvement. ``None`` always runs ``max_iter`` epochs.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training rows (stratified for classifiers), monitor the
        loss on them, and keep the weights of the epoch with the lowest validation loss.
    validation_fraction : float, default=0.1
        Share of the rows held out when ``early_stopping=True``.
    dropout : float, default=0.0
        Probability of zeroing each hidden unit during training (inverted dropout: the kept units are
        scaled by ``1 / (1 - dropout)``, so prediction uses the weights as they are).
    init : {"glorot", "he", "uniform"}, default="glorot"
        Weight initialisation: Glorot/Xavier uniform, He normal, or the tutorial's uniform(0, 1).
        Intercepts start at zero.
    fit_intercept : bool, default=True
        Whether layers have intercepts (biases). The tutorial's network has none.
    reduction : {"mean", "sum"}, default="mean"
        Whether a batch's loss, and so its gradient, is the mean or the sum over its rows. ``"sum"``
        reproduces the tutorial; it makes the effective step size grow with the batch size.
    shuffle : bool, default=True
        Reshuffle the rows before each epoch (mini-batch training only).
    momentum : float, default=0.9
        Velocity decay of ``optimizer="momentum"``.
    nesterov : bool, default=False
        Use Nesterov's look-ahead with ``optimizer="momentum"``.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of Adam's first and second moment estimates.
    rho : float, default=0.9
        Decay rate of RMSprop's mean squared gradient.
    epsilon : float, default=1e-8
        Added to the denominators of Adam and RMSprop.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, the validation split, shuffling and dropout; an int makes ``fit``
        repeatable bit for bit.

    Attributes
    ----------
    coefs_, intercepts_ : list of ndarray
        Weight matrix ``(fan_in, fan_out)`` and intercept vector of each layer.
    out_activation_ : str
        The output layer's activation ("sigmoid", "softmax" or "identity").
    n_features_in_ : int
        Number of input features; ``feature_names_in_`` too when ``X`` had string column names.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Width of the output layer.
    loss_curve_ : list of float
        Training objective per epoch (averaged over its mini-batches, penalty included).
    n_iter_ : int
        Epochs run.
    validation_scores_ : list of float or None
        With early stopping: minus the validation loss per epoch (greater is better, like
        scikit-learn's ``neg_log_loss``); otherwise ``None``.
    best_validation_score_ : float or None
        The best of ``validation_scores_``, whose weights were kept.
    best_epoch_ : int or None
        The (1-based) epoch whose weights were kept, with early stopping.
    """

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        *,
        activation: str = "relu",
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        alpha: float = 1e-4,
        batch_size: int | None = 200,
        max_iter: int = 200,
        tol: float = 1e-4,
        n_iter_no_change: int | None = 10,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        dropout: float = 0.0,
        init: str = "glorot",
        fit_intercept: bool = True,
        reduction: Reduction = "mean",
        shuffle: bool = True,
        momentum: float = 0.9,
        nesterov: bool = False,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        rho: float = 0.9,
        epsilon: float = 1e-8,
        random_state: Any = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.dropout = dropout
        self.init = init
        self.fit_intercept = fit_intercept
        self.reduction = reduction
        self.shuffle = shuffle
        self.momentum = momentum
        self.nesterov = nesterov
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.rho = rho
        self.epsilon = epsilon
        self.random_state = random_state

    def _validate_hyperparameters(self) -> None:
        """Raise a ``ValueError`` naming the first invalid hyper-parameter (called first thing in ``fit``)."""
        hyperparameters.validate_common(self.get_params(deep=False))

    def fit(self, X: Any, y: Any) -> Any:
        """Train on ``X`` (n_samples, n_features) and targets ``y``; returns ``self``."""
        fit_together([self], [(X, y)])
        return self

    def prepare_fit(self, X: Any, y: Any) -> FitPlan:
        """Validate ``X, y`` and prepare this estimator's network for training (:mod:`neuralnet.stacking`'s
        protocol, through which :meth:`fit` trains it; subclasses encode ``y``)."""
        raise NotImplementedError

    def _network_plan(
        self, X: Array, Y: Array, loss: str, stratify: Any = None, attributes: dict[str, Any] | None = None
    ) -> FitPlan:
        """An initialised network mapping ``X`` to the encoded targets ``Y`` under ``loss``, ready to train; once
        trained, its weights and curves become the fitted attributes, with ``attributes`` besides.

        The random generator is used in a fixed order - initial weights, validation split, then training - so
        that a network gets the same weights whether it trains alone or in a stack.
        """
        rng = check_random_state(self.random_state)
        hidden = hyperparameters.hidden_layer_sizes(self.hidden_layer_sizes)
        layer_sizes = [X.shape[1], *hidden, Y.shape[1]]
        params = init_params(layer_sizes, self.init, [rng], self.fit_intercept)
        validation = None
        if self.early_stopping:
            X, X_val, Y, Y_val = _validation_split(X, Y, self.validation_fraction, rng, stratify)
            validation = (X_val, Y_val)
        settings = LoopSettings(
            activation=self.activation,
            loss=loss,
            alpha=self.alpha,
            reduction=self.reduction,
            batch_size=self.batch_size,
            max_iter=self.max_iter,
            shuffle=self.shuffle,
            dropout=self.dropout,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
        )
        optimizer = (self.optimizer, tuple((name, getattr(self, name)) for name in _OPTIMIZER_SETTINGS))
        job = FitJob(X, Y, validation, rng, params, settings, optimizer)

        def finish(results: list[LoopResult]) -> None:
            [result] = results
            self._store_result(job, result)
            for name, value in (attributes or {}).items():
                setattr(self, name, value)

        return FitPlan([job], finish)

    def _store_result(self, job: FitJob, result: LoopResult) -> None:
        """Store what training produced as the fitted attributes."""
        if not np.all(np.isfinite(result.weights)):
            raise ValueError(
                "Training produced non-finite weights. Scale the inputs (e.g. StandardScaler) or lower learning_rate."
            )
        if not result.stopped_early and self.n_iter_no_change is not None:
            warn_at_caller(
                f"{type(self).__name__} stopped at max_iter={self.max_iter} epochs before the "
                "monitored loss stopped improving.",
                ConvergenceWarning,
            )
        params = wrap(result.weights.reshape(1, -1), job.params.layer_sizes, self.fit_intercept)
        self.coefs_ = [w[0].copy() for w in params.coefs]
        # Without intercepts, store zeros: every fitted network then has the same attribute layout.
        self.intercepts_ = [
            np.zeros(w.shape[2]) if b is None else b[0, 0].copy()
            for w, b in zip(params.coefs, params.intercepts, strict=True)
        ]
        self.out_activation_ = OUTPUT_ACTIVATION[job.settings.loss]
        self.n_layers_ = len(params.layer_sizes)
        self.n_outputs_ = job.Y.shape[1]
        self.loss_curve_ = result.loss_curve
        self.n_iter_ = result.n_iter
        early = job.validation is not None
        self.validation_scores_ = result.validation_scores if early else None
        self.best_validation_score_ = max(result.validation_scores) if early else None
        self.best_epoch_ = result.best_epoch if early else None


def _validation_split(
    X: Array, Y: Array, fraction: float, rng: np.random.RandomState, classes: Array | None
) -> list[Array]:
    """Hold out ``ceil(fraction * n)`` rows for early stopping: ``X_train, X_val, Y_train, Y_val``.

    With class indices ``classes`` the split is stratified, and the validation set holds at least one
    row per class. Data too small to stratify (a class with a single row) is split at random instead,
    so that tiny data sets still train.
    """
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"early_stopping needs at least 2 samples to hold some out; got {n}.")
    n_val = math.ceil(fraction * n)
    if classes is not None:
        counts = np.bincount(classes)
        if counts.min() >= 2 and n - counts.size >= counts.size:
            n_val = min(max(n_val, counts.size), n - counts.size)
        else:
            classes = None
    n_val = min(n_val, n - 1)
    return train_test_split(X, Y, test_size=n_val, random_state=rng, stratify=classes)  # type: ignore[no-any-return]
