"""scikit-learn's own estimator suite, run on every estimator of the package.

The instances are small and short-trained so that the ~50 checks per estimator stay fast; every check
passes, so none is marked as an expected failure.
"""

from collections.abc import Callable
from typing import Any

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from neuralnet import NetworkEnsembleClassifier, NeuralNetClassifier, NeuralNetRegressor

ESTIMATORS = [
    NeuralNetClassifier((8,), learning_rate=1e-2, max_iter=100, random_state=0),
    # The tutorial's loss and update rule, plus early stopping (exercises the stratified split).
    NeuralNetClassifier(
        (8,),
        activation="sigmoid",
        loss="squared_error",
        optimizer="momentum",
        learning_rate=0.003,
        batch_size=None,
        reduction="sum",
        max_iter=100,
        early_stopping=True,
        random_state=0,
    ),
    NeuralNetRegressor((8,), learning_rate=1e-2, max_iter=100, random_state=0),
    NetworkEnsembleClassifier(
        NeuralNetClassifier((8,), activation="tanh", learning_rate=1e-2, max_iter=50), n_members=2, random_state=0
    ),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator: Any, check: Callable[[Any], None]) -> None:
    check(estimator)
