"""An average of independently seeded networks, as one scikit-learn classifier.

Networks trained from different random initialisations (and, with early stopping, different validation
splits) make partly independent errors; averaging their probabilities cancels some of them (measured
in docs/model-selection.md).
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from neuralnet import hyperparameters, prediction
from neuralnet.aliases import Array
from neuralnet.classifier import NeuralNetClassifier
from neuralnet.stacking import FitPlan, Stackable, combine, fit_together


def average_proba(probas: Sequence[Array]) -> Array:
    """Mean of probability matrices (for members that are not :class:`NeuralNetClassifier`)."""
    total = probas[0].copy()
    for p in probas[1:]:
        total += p
    total /= len(probas)
    return total


def stacked_network(
    members: Sequence[NeuralNetClassifier],
) -> tuple[list[Array], list[Array], str, str, int]:
    """Weights and settings of the members as one wide network, for :func:`prediction.predict_proba`.

    Returns ``(coefs, intercepts, activation, output_activation, n_members)``.
    """
    first = members[0]
    for member in members:
        check_is_fitted(member)
        if (member.activation, member.out_activation_) != (first.activation, first.out_activation_):
            raise ValueError("Ensemble members must share their activations to be evaluated together.")
    coefs, intercepts = prediction.stack([(member.coefs_, member.intercepts_) for member in members])
    return coefs, intercepts, first.activation, first.out_activation_, len(members)


class NetworkEnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Fits ``n_members`` clones of a classifier with different seeds and averages ``predict_proba``.

    Parameters
    ----------
    estimator : classifier with ``predict_proba`` and ``random_state``, default=None
        The member template; ``None`` means ``NeuralNetClassifier()``. Each member is a clone whose
        ``random_state`` is replaced by a seed drawn from this ensemble's ``random_state``.
    n_members : int, default=5
        Number of members.
    random_state : int, RandomState instance or None, default=None
        Source of the members' seeds; an int makes ``fit`` repeatable.

    Attributes
    ----------
    estimators_ : list of classifiers
        The fitted members.
    classes_ : ndarray of shape (n_classes,)
        Class labels, in the order of the ``predict_proba`` columns.
    n_features_in_ : int
        Number of input features.
    """

    def __init__(self, estimator: Any = None, *, n_members: int = 5, random_state: Any = None) -> None:
        self.estimator = estimator
        self.n_members = n_members
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> "NetworkEnsembleClassifier":
        """Fit every member on all of ``X, y``; returns ``self``.

        Network members train side by side, as one stack (:func:`neuralnet.stacking.fit_together`).
        """
        fit_together([self], [(X, y)])
        return self

    def prepare_fit(self, X: Any, y: Any) -> FitPlan:
        """The members' trainings, for :func:`neuralnet.stacking.fit_together` (members of other kinds fit here)."""
        hyperparameters.check_int("n_members", self.n_members, 1)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        template = NeuralNetClassifier() if self.estimator is None else self.estimator
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_members)
        members = [clone(template).set_params(random_state=int(seed)) for seed in seeds]
        plans = [member.prepare_fit(X, y) for member in members if isinstance(member, Stackable)]
        for member in members:
            if not isinstance(member, Stackable):
                member.fit(X, y)

        def then() -> None:
            self.estimators_ = members
            self.classes_ = members[0].classes_

        return combine(plans, then)

    def predict_proba(self, X: Any) -> Array:
        """Average of the members' class probabilities, columns in ``classes_`` order.

        Network members are evaluated together, as one wide network (:func:`neuralnet.prediction.stack`).
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        members = self.estimators_
        if all(isinstance(member, NeuralNetClassifier) for member in members):
            coefs, intercepts, activation, output_activation, n_members = stacked_network(members)
            return prediction.predict_proba(coefs, intercepts, X, activation, output_activation, n_members=n_members)
        return average_proba([member.predict_proba(X) for member in members])

    def predict_log_proba(self, X: Any) -> Array:
        """Logarithm of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> NDArray[Any]:
        """Class with the highest average probability."""
        proba = self.predict_proba(X)  # checks that the model is fitted
        return self.classes_[np.argmax(proba, axis=1)]  # type: ignore[no-any-return]
