"""Networks trained together as one stack get exactly the weights and curves they get when trained alone.

This is what lets the ensemble train its members side by side and the training run fit one model's
cross-validation folds together, without changing any result.
"""

from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.preprocessing import StandardScaler

from neuralnet import NetworkEnsembleClassifier, NeuralNetClassifier, NeuralNetRegressor, make_preset
from neuralnet.aliases import Array
from neuralnet.base import BaseNeuralNet
from neuralnet.stacking import fit_together
from neuralnet.trainer import NonFiniteLossError

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def cancer() -> tuple[Array, Array]:
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _assert_same_fit(together: BaseNeuralNet, alone: BaseNeuralNet) -> None:
    for name in ("coefs_", "intercepts_"):
        for a, b in zip(getattr(together, name), getattr(alone, name), strict=True):
            assert_array_equal(a, b)
    for name in ("loss_curve_", "n_iter_", "validation_scores_", "best_epoch_", "n_features_in_"):
        assert getattr(together, name) == getattr(alone, name), name


def _subsets(X: Array, y: Array, n: int, n_rows: int) -> list[tuple[Array, Array]]:
    """``n`` random row subsets of equal size, standing in for cross-validation folds."""
    rng = np.random.RandomState(0)
    return [(X[rows], y[rows]) for rows in (rng.choice(len(y), n_rows, replace=False) for _ in range(n))]


@pytest.mark.parametrize(
    ("template", "stops_early"),
    [
        pytest.param(make_preset("seed").set_params(max_iter=300), False, id="seed-preset-full-batch"),
        pytest.param(
            NeuralNetClassifier(
                (8, 4), activation="tanh", batch_size=32, early_stopping=True, n_iter_no_change=5, dropout=0.2
            ),
            True,
            id="mini-batch-dropout-early-stopping",
        ),
        pytest.param(
            NeuralNetClassifier((6,), optimizer="momentum", nesterov=True, batch_size=50, tol=1e-3, n_iter_no_change=3),
            True,
            id="momentum-training-loss-stopping",
        ),
        pytest.param(NeuralNetClassifier((6,), optimizer="rmsprop", max_iter=30), False, id="rmsprop"),
    ],
)
def test_networks_fitted_together_equal_networks_fitted_alone(
    template: NeuralNetClassifier, stops_early: bool, cancer: tuple[Array, Array]
) -> None:
    data = _subsets(*cancer, n=4, n_rows=200)
    together = [clone(template).set_params(random_state=seed) for seed in range(4)]
    fit_together(together, data)
    for model, (X, y) in zip(together, data, strict=True):
        _assert_same_fit(model, clone(model).fit(X, y))
    epochs = {model.n_iter_ for model in together}
    # networks that stop early leave the stack at different epochs while the others go on
    assert len(epochs) > 1 if stops_early else epochs == {template.max_iter}


def test_fit_together_trains_different_settings_and_shapes_separately(cancer: tuple[Array, Array]) -> None:
    X, y = cancer
    iris_X, iris_y = load_iris(return_X_y=True)
    models: list[Any] = [
        NeuralNetClassifier((5,), max_iter=20, random_state=0),
        NeuralNetClassifier((7,), max_iter=20, random_state=0),  # another architecture
        NeuralNetClassifier((5,), max_iter=20, random_state=1),  # same stack as the first
        NeuralNetClassifier((5,), max_iter=20, random_state=2),  # multiclass: another output width
        NeuralNetRegressor((5,), max_iter=20, random_state=0),
    ]
    data = [(X[:300], y[:300]), (X[:300], y[:300]), (X[100:400], y[100:400]), (iris_X, iris_y), (X[:250], X[:250, 0])]
    fit_together(models, data)
    for model, (X_k, y_k) in zip(models, data, strict=True):
        _assert_same_fit(model, clone(model).fit(X_k, y_k))
    assert list(models[3].classes_) == [0, 1, 2]


def test_ensemble_members_equal_the_same_networks_fitted_alone(cancer: tuple[Array, Array]) -> None:
    X, y = cancer
    ensemble = NetworkEnsembleClassifier(
        NeuralNetClassifier((8,), activation="tanh", batch_size=64, max_iter=100, early_stopping=True),
        n_members=4,
        random_state=0,
    ).fit(X, y)
    for member in ensemble.estimators_:
        _assert_same_fit(member, clone(member).fit(X, y))
    assert len({member.n_iter_ for member in ensemble.estimators_}) > 1


def test_one_diverging_network_fails_the_whole_stack_with_a_clear_error(cancer: tuple[Array, Array]) -> None:
    X, y = cancer
    models = [NeuralNetRegressor((5,), optimizer="sgd", learning_rate=0.1, random_state=k) for k in range(2)]
    with pytest.raises(NonFiniteLossError, match=r"diverged\. Scale the inputs"):
        fit_together(models, [(X, y * 1.0), (X * 1e4, y * 1.0)])  # the second network's inputs are not scaled
