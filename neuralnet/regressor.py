"""Neural-network regressor with scikit-learn's API (single and multi-output)."""

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from neuralnet import prediction
from neuralnet.aliases import Array
from neuralnet.base import BaseNeuralNet
from neuralnet.stacking import FitPlan


class NeuralNetRegressor(RegressorMixin, BaseNeuralNet):
    """Feed-forward neural-network regressor: identity outputs trained on half the squared error.

    Parameters and attributes are documented in :class:`neuralnet.base.BaseNeuralNet`. Targets are not
    rescaled: like any network, it trains best on targets of order 1 (e.g. with
    ``sklearn.compose.TransformedTargetRegressor``).
    """

    def fit(self, X: Any, y: Any) -> "NeuralNetRegressor":
        """Train on ``X`` (n_samples, n_features) and targets ``y`` (n_samples,) or (n_samples, n_outputs)."""
        return super().fit(X, y)  # type: ignore[no-any-return]

    def prepare_fit(self, X: Any, y: Any) -> FitPlan:
        self._validate_hyperparameters()
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return self._network_plan(X, np.asarray(Y, dtype=np.float64), "squared_error")

    def predict(self, X: Any) -> Array:
        """Predicted targets: shape (n_samples,) for a single output, else (n_samples, n_outputs)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        y = prediction.predict_output(self.coefs_, self.intercepts_, X, self.activation, self.out_activation_)
        return y.ravel() if y.shape[1] == 1 else y

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
