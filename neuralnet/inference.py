"""A lean predictor for serving: standardise, run the network, return class probabilities.

scikit-learn's ``predict_proba`` validates its input on every call (types, finiteness, feature names),
which costs far more than the network itself for one row. The service validates requests against its
own schema, so :class:`ProbabilityModel` keeps only the arithmetic, with every array prepared once.
That arithmetic is not re-implemented: it calls :func:`neuralnet.prediction.predict_proba` with the same
arguments the estimators pass (for an ensemble, its members stacked into one wide network by
:func:`neuralnet.ensemble.stacked_network`), so both paths give bit-identical probabilities.
"""

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from neuralnet import prediction
from neuralnet.activations import Array
from neuralnet.classifier import NeuralNetClassifier
from neuralnet.ensemble import NetworkEnsembleClassifier, stacked_network


class ProbabilityModel:
    """Class probabilities of a fitted ``StandardScaler`` followed by a fitted network classifier.

    Build it once with :meth:`from_fitted` (or :meth:`from_pipeline`); :meth:`predict_proba` then does
    no validation at all: ``X`` must be a 2-D float64 array of shape ``(n_rows, n_features)`` with the
    features in training order.

    Attributes
    ----------
    classes : ndarray of shape (n_classes,)
        Class labels, in the order of the ``predict_proba`` columns.
    n_features : int
        Number of input features expected.
    """

    __slots__ = (
        "_activation",
        "_coefs",
        "_intercepts",
        "_mean",
        "_n_members",
        "_output",
        "_scale",
        "classes",
        "n_features",
    )

    def __init__(
        self,
        mean: Array | None,
        scale: Array | None,
        weights: tuple[list[Array], list[Array], str, str, int],
        classes: NDArray[Any],
    ) -> None:
        self._mean = mean
        self._scale = scale
        self._coefs, self._intercepts, self._activation, self._output, self._n_members = weights
        self.classes = classes
        self.n_features: int = self._coefs[0].shape[0]

    @classmethod
    def from_fitted(
        cls, scaler: StandardScaler, model: NeuralNetClassifier | NetworkEnsembleClassifier
    ) -> "ProbabilityModel":
        """Take the weights out of a fitted scaler and a fitted network classifier or ensemble of them."""
        if not isinstance(scaler, StandardScaler):
            raise TypeError(f"scaler must be a fitted StandardScaler; got {type(scaler).__name__}.")
        check_is_fitted(scaler)
        weights: tuple[list[Array], list[Array], str, str, int]
        if isinstance(model, NeuralNetClassifier):
            check_is_fitted(model)
            coefs = [w.copy() for w in model.coefs_]  # a snapshot, whatever happens to the model later
            intercepts = [b.copy() for b in model.intercepts_]
            weights = (coefs, intercepts, model.activation, model.out_activation_, 1)
        elif isinstance(model, NetworkEnsembleClassifier):
            check_is_fitted(model)
            others = {type(m).__name__ for m in model.estimators_ if not isinstance(m, NeuralNetClassifier)}
            if others:
                raise TypeError(f"Ensemble members must be NeuralNetClassifier; got {sorted(others)}.")
            weights = stacked_network(model.estimators_)
        else:
            raise TypeError(
                f"model must be a NeuralNetClassifier or a NetworkEnsembleClassifier; got {type(model).__name__}."
            )
        if weights[0][0].shape[0] != scaler.n_features_in_:
            raise ValueError(
                f"The scaler has {scaler.n_features_in_} features but the model expects {weights[0][0].shape[0]}."
            )
        mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else None
        scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else None
        return cls(mean, scale, weights, np.asarray(model.classes_))

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> "ProbabilityModel":
        """The same from a fitted ``make_pipeline(StandardScaler(), model)``."""
        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            raise TypeError("pipeline must be a fitted two-step Pipeline (StandardScaler, classifier).")
        return cls.from_fitted(pipeline.steps[0][1], pipeline.steps[1][1])

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probabilities of shape ``(n_rows, n_classes)``, columns in :attr:`classes` order."""
        # StandardScaler.transform's two in-place steps, on a copy: bit-identical to it.
        Z = X - self._mean if self._mean is not None else X.copy()
        if self._scale is not None:
            Z /= self._scale
        return prediction.predict_proba(
            self._coefs, self._intercepts, Z, self._activation, self._output, n_members=self._n_members
        )
