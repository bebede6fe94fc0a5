"""Neural-network classifier with scikit-learn's API (binary and multiclass)."""

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from neuralnet import hyperparameters, network, prediction
from neuralnet.aliases import Array, Reduction
from neuralnet.base import BaseNeuralNet
from neuralnet.stacking import FitPlan

CLASSIFIER_LOSSES = ("log_loss", "squared_error")

# (loss parameter, more than two classes?) -> loss function of neuralnet.losses
_LOSS_FUNCTION = {
    ("log_loss", False): "binary_log_loss",
    ("log_loss", True): "log_loss",
    ("squared_error", False): "sigmoid_squared_error",
    ("squared_error", True): "softmax_squared_error",
}


class NeuralNetClassifier(ClassifierMixin, BaseNeuralNet):
    """Feed-forward neural-network classifier trained by backpropagation.

    Two classes get one sigmoid output unit (the probability of ``classes_[1]``); more classes get a
    softmax layer with one unit per class. Labels may be any sortable values, strings included.

    Parameters
    ----------
    loss : {"log_loss", "squared_error"}, default="log_loss"
        ``"log_loss"``: cross-entropy, computed from the logits. ``"squared_error"``: half the squared
        difference between the predicted probabilities and the 0/1 targets, the tutorial's loss.
    **other parameters
        As documented in :class:`neuralnet.base.BaseNeuralNet`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, in the order of the ``predict_proba`` columns.
    **other attributes
        As documented in :class:`neuralnet.base.BaseNeuralNet`.
    """

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        *,
        activation: str = "relu",
        loss: str = "log_loss",
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
        super().__init__(
            hidden_layer_sizes,
            activation=activation,
            optimizer=optimizer,
            learning_rate=learning_rate,
            alpha=alpha,
            batch_size=batch_size,
            max_iter=max_iter,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            dropout=dropout,
            init=init,
            fit_intercept=fit_intercept,
            reduction=reduction,
            shuffle=shuffle,
            momentum=momentum,
            nesterov=nesterov,
            beta_1=beta_1,
            beta_2=beta_2,
            rho=rho,
            epsilon=epsilon,
            random_state=random_state,
        )
        self.loss = loss

    def _validate_hyperparameters(self) -> None:
        hyperparameters.check_choice("loss", self.loss, CLASSIFIER_LOSSES)
        super()._validate_hyperparameters()

    def fit(self, X: Any, y: Any) -> "NeuralNetClassifier":
        """Train on ``X`` (n_samples, n_features) and class labels ``y``; returns ``self``."""
        return super().fit(X, y)  # type: ignore[no-any-return]

    def prepare_fit(self, X: Any, y: Any) -> FitPlan:
        self._validate_hyperparameters()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, y_index = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; got one class: {classes[0]!r}."
            )
        multiclass = classes.size > 2
        # Binary targets are one 0/1 column (P(classes_[1])); multiclass targets are one-hot rows.
        Y = np.eye(classes.size)[y_index] if multiclass else y_index.reshape(-1, 1).astype(np.float64)
        loss = _LOSS_FUNCTION[self.loss, multiclass]
        return self._network_plan(X, Y, loss, stratify=y_index, attributes={"classes_": classes})

    def decision_function(self, X: Any) -> Array:
        """Output logits: shape (n_samples,) for two classes (> 0 means ``classes_[1]``), else per class."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        z = network.forward(self.coefs_, self.intercepts_, X, self.activation)[-1]
        return z.ravel() if z.shape[1] == 1 else z

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities (n_samples, n_classes), columns in ``classes_`` order, inside (0, 1)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return prediction.predict_proba(self.coefs_, self.intercepts_, X, self.activation, self.out_activation_)

    def predict_log_proba(self, X: Any) -> Array:
        """Logarithm of :meth:`predict_proba` (finite, since the probabilities are never 0)."""
        return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> NDArray[Any]:
        """Most probable class of each row."""
        proba = self.predict_proba(X)  # checks that the model is fitted
        return self.classes_[np.argmax(proba, axis=1)]  # type: ignore[no-any-return]
