"""Behaviour of NeuralNetClassifier and NeuralNetRegressor beyond scikit-learn's generic suite."""

import inspect
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_breast_cancer, load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from neuralnet import NetworkEnsembleClassifier, NeuralNetClassifier, NeuralNetRegressor
from neuralnet.aliases import Array
from neuralnet.prediction import EPS
from neuralnet.stacking import fit_together

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def cancer() -> tuple[Array, Array]:
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def iris() -> tuple[Array, Array]:
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _clipped_sigmoid(z: Array) -> Array:
    """The textbook sigmoid, clipped like the estimators' probabilities."""
    with np.errstate(over="ignore"):
        return np.clip(1.0 / (1.0 + np.exp(-z)), EPS, 1.0 - EPS)


def small_net(**params: Any) -> NeuralNetClassifier:
    defaults: dict[str, Any] = {"hidden_layer_sizes": (8,), "learning_rate": 1e-2, "max_iter": 30}
    return NeuralNetClassifier(**{**defaults, **params})


# --- reproducibility and persistence -------------------------------------------------------------


def test_same_random_state_gives_identical_weights(cancer: tuple[Array, Array]) -> None:
    # Mini-batches, dropout and early stopping: every use of the random state at once.
    params = {"batch_size": 32, "dropout": 0.2, "early_stopping": True, "random_state": 3}
    first, second = small_net(**params).fit(*cancer), small_net(**params).fit(*cancer)
    other = small_net(**{**params, "random_state": 4}).fit(*cancer)

    for a, b in zip(first.coefs_ + first.intercepts_, second.coefs_ + second.intercepts_, strict=True):
        assert_array_equal(a, b)
    assert first.loss_curve_ == second.loss_curve_
    assert not np.array_equal(first.coefs_[0], other.coefs_[0])


@pytest.mark.parametrize(
    "estimator",
    [small_net(random_state=0), small_net(hidden_layer_sizes=(), random_state=0)],
    ids=["one-hidden-layer", "no-hidden-layer"],
)
def test_joblib_round_trip_predicts_identically(
    estimator: NeuralNetClassifier, cancer: tuple[Array, Array], tmp_path: Path
) -> None:
    X, y = cancer
    estimator.fit(X, y)
    joblib.dump(estimator, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")

    assert type(loaded) is NeuralNetClassifier
    assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    assert_array_equal(loaded.predict(X), estimator.predict(X))


def test_regressor_joblib_round_trip(tmp_path: Path) -> None:
    X, y = make_regression(n_samples=100, n_features=5, n_targets=2, random_state=0)
    model = NeuralNetRegressor((8,), max_iter=20, random_state=0).fit(X, y / 100)
    joblib.dump(model, tmp_path / "model.joblib")
    assert_array_equal(joblib.load(tmp_path / "model.joblib").predict(X), model.predict(X))


# --- training ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("optimizer", "extra"),
    [
        ("sgd", {"learning_rate": 0.1}),
        ("momentum", {"learning_rate": 0.05}),
        ("momentum", {"learning_rate": 0.05, "nesterov": True}),
        ("adam", {"learning_rate": 1e-2}),
        ("rmsprop", {"learning_rate": 1e-2}),
    ],
)
def test_every_optimizer_reduces_the_loss(optimizer: str, extra: dict[str, Any]) -> None:
    X, y = make_classification(n_samples=200, n_features=6, n_informative=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    model = NeuralNetClassifier(
        (8,), optimizer=optimizer, batch_size=32, max_iter=40, n_iter_no_change=None, random_state=0, **extra
    ).fit(X, y)

    assert model.n_iter_ == 40
    assert model.loss_curve_[-1] < 0.6 * model.loss_curve_[0]
    assert model.score(X, y) > 0.8


def test_early_stopping_keeps_the_best_validation_epoch(cancer: tuple[Array, Array]) -> None:
    model = small_net(
        learning_rate=3e-2, batch_size=16, early_stopping=True, n_iter_no_change=5, max_iter=500, random_state=0
    ).fit(*cancer)

    scores = model.validation_scores_
    assert scores is not None
    assert len(scores) == model.n_iter_ == len(model.loss_curve_)
    assert model.best_epoch_ is not None
    assert model.best_epoch_ < model.n_iter_  # it ran past the best epoch, then went back to it
    assert model.best_validation_score_ == max(scores) == scores[model.best_epoch_ - 1]


def test_without_early_stopping_there_are_no_validation_attributes(cancer: tuple[Array, Array]) -> None:
    model = small_net(random_state=0).fit(*cancer)
    assert model.validation_scores_ is None
    assert model.best_validation_score_ is None
    assert model.best_epoch_ is None


def test_n_iter_no_change_none_runs_every_epoch(cancer: tuple[Array, Array]) -> None:
    model = small_net(max_iter=7, n_iter_no_change=None, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a fixed epoch count is not a failure
        model.fit(*cancer)
    assert model.n_iter_ == 7


def test_hitting_max_iter_warns(cancer: tuple[Array, Array]) -> None:
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        small_net(max_iter=2, random_state=0).fit(*cancer)


def _fit_classifier(X: Array, y: Array) -> None:
    small_net(max_iter=2, random_state=0).fit(X, y)


def _fit_regressor(X: Array, y: Array) -> None:
    NeuralNetRegressor((4,), max_iter=2, random_state=0).fit(X, y * 1.0)


def _fit_ensemble(X: Array, y: Array) -> None:
    NetworkEnsembleClassifier(small_net(max_iter=2), n_members=2, random_state=0).fit(X, y)


def _fit_together(X: Array, y: Array) -> None:
    fit_together([small_net(max_iter=2, random_state=0), NeuralNetRegressor((4,), max_iter=2)], [(X, y), (X, y * 1.0)])


@pytest.mark.parametrize("entry_point", [_fit_classifier, _fit_regressor, _fit_ensemble, _fit_together])
def test_the_convergence_warning_points_at_the_users_call(
    cancer: tuple[Array, Array], entry_point: Callable[[Array, Array], None]
) -> None:
    """Whichever public entry point fits the network, and however deep inside the package the warning is raised,
    it names the line that called the package, not one of the package's own lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        entry_point(*cancer)
    assert caught
    call_line = inspect.getsourcelines(entry_point)[1] + 1  # each helper's body is its one line
    for warning in caught:
        assert warning.category is ConvergenceWarning
        assert (warning.filename, warning.lineno) == (__file__, call_line)


def test_summed_gradients_equal_mean_gradients_with_a_larger_step(cancer: tuple[Array, Array]) -> None:
    """With full-batch SGD, reduction='sum' at rate r is reduction='mean' at rate r * n_samples."""
    X, y = cancer
    common = {"optimizer": "sgd", "batch_size": None, "alpha": 0.1, "max_iter": 20, "n_iter_no_change": None}
    summed = small_net(reduction="sum", learning_rate=1e-4, random_state=0, **common).fit(X, y)
    mean = small_net(reduction="mean", learning_rate=1e-4 * len(y), random_state=0, **common).fit(X, y)
    for a, b in zip(summed.coefs_, mean.coefs_, strict=True):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_without_intercepts_the_intercepts_stay_zero(cancer: tuple[Array, Array]) -> None:
    model = small_net(fit_intercept=False, random_state=0).fit(*cancer)
    assert all(not b.any() for b in model.intercepts_)
    assert [b.shape for b in model.intercepts_] == [(8,), (1,)]


def test_diverging_training_raises_a_clear_error() -> None:
    X, y = make_regression(n_samples=100, n_features=4, random_state=0)
    model = NeuralNetRegressor(
        (4,), activation="identity", optimizer="sgd", learning_rate=1.0, batch_size=None, random_state=0
    )
    with pytest.raises(ValueError, match="diverged"):
        model.fit(X * 1e3, y)


# --- dropout -------------------------------------------------------------------------------------


def test_dropout_changes_training_but_not_prediction(cancer: tuple[Array, Array]) -> None:
    X, y = cancer
    plain = small_net(random_state=0).fit(X, y)
    dropped = small_net(dropout=0.5, random_state=0).fit(X, y)

    # Training saw masked units: same seed, different weights, and a noisier (higher) training loss.
    assert not np.array_equal(plain.coefs_[0], dropped.coefs_[0])
    assert dropped.loss_curve_[-1] > plain.loss_curve_[-1]
    # Prediction is deterministic and uses every unit: the weights as they are, no mask, no rescaling.
    assert_array_equal(dropped.predict_proba(X), dropped.predict_proba(X))
    hidden = np.maximum(X @ dropped.coefs_[0] + dropped.intercepts_[0], 0.0)  # relu
    logit = hidden @ dropped.coefs_[1] + dropped.intercepts_[1]
    assert_allclose(dropped.predict_proba(X)[:, 1], _clipped_sigmoid(logit[:, 0]), rtol=1e-12)


# --- classification ------------------------------------------------------------------------------


def test_binary_probabilities_match_the_decision_function(cancer: tuple[Array, Array]) -> None:
    X, y = cancer
    model = small_net(random_state=0).fit(X, y)
    proba, logit = model.predict_proba(X), model.decision_function(X)

    assert proba.shape == (len(y), 2)
    assert logit.shape == (len(y),)
    assert_allclose(proba[:, 1], _clipped_sigmoid(logit), rtol=1e-12)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(model.predict(X), (logit > 0).astype(int))
    assert model.score(X, y) > 0.95


@pytest.mark.parametrize("loss", ["log_loss", "squared_error"])
def test_multiclass_with_string_labels(loss: str, iris: tuple[Array, Array]) -> None:
    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    model = small_net(loss=loss, max_iter=200, random_state=0).fit(X, labels)
    proba = model.predict_proba(X)

    assert_array_equal(model.classes_, ["setosa", "versicolor", "virginica"])
    assert model.out_activation_ == "softmax"
    assert proba.shape == (150, 3)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert model.decision_function(X).shape == (150, 3)
    assert set(model.predict(X)) <= set(labels)
    assert model.score(X, labels) > 0.9


def test_single_class_is_refused(cancer: tuple[Array, Array]) -> None:
    X, _ = cancer
    with pytest.raises(ValueError, match="one class"):
        small_net().fit(X, np.zeros(len(X)))


def test_probabilities_stay_strictly_inside_0_1_without_warnings(cancer: tuple[Array, Array]) -> None:
    # filterwarnings = error::RuntimeWarning (pyproject.toml): any overflow here fails the test.
    X, y = cancer
    for activation in ("relu", "tanh", "sigmoid", "identity"):
        model = small_net(activation=activation, random_state=0).fit(X * 1e6, y)  # unscaled, extreme
        for scale in (1.0, 1e6, -1e6):
            proba = model.predict_proba(X * scale)
            assert np.all(proba >= EPS)
            assert np.all(proba <= 1.0 - EPS)
            assert np.all(np.isfinite(model.predict_log_proba(X * scale)))
    multi = small_net(random_state=0).fit(X * 1e6, np.arange(len(y)) % 3)
    proba = multi.predict_proba(X * 1e6)
    assert np.all((proba > 0.0) & (proba < 1.0))


# --- regression ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n_targets", [1, 3])
def test_regressor_fits_single_and_multi_output(n_targets: int) -> None:
    X, y = make_regression(n_samples=300, n_features=5, n_targets=n_targets, noise=1.0, random_state=0)
    y = y / np.std(y)
    model = NeuralNetRegressor((16,), activation="tanh", learning_rate=1e-2, max_iter=300, random_state=0)
    model.fit(X, y)

    assert model.out_activation_ == "identity"
    assert model.predict(X).shape == y.shape
    assert model.score(X, y) > 0.95


# --- hyper-parameter validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("hidden_layer_sizes", (8, 0)),
        ("hidden_layer_sizes", "wide"),
        ("activation", "softplus"),
        ("loss", "hinge"),
        ("optimizer", "lbfgs"),
        ("learning_rate", 0.0),
        ("learning_rate", -1.0),
        ("alpha", -0.1),
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("max_iter", 0),
        ("tol", -1.0),
        ("n_iter_no_change", 0),
        ("validation_fraction", 1.0),
        ("dropout", 1.0),
        ("init", "zeros"),
        ("reduction", "median"),
        ("momentum", 1.5),
        ("beta_1", 1.0),
        ("beta_2", -0.5),
        ("rho", 2.0),
        ("epsilon", 0.0),
        ("early_stopping", "yes"),
        ("fit_intercept", 1),
    ],
)
def test_bad_hyperparameters_raise_value_error_naming_them(param: str, value: Any, cancer: tuple[Array, Array]) -> None:
    model = small_net(**{param: value})  # __init__ accepts anything: validation happens in fit
    with pytest.raises(ValueError, match=param) as error:
        model.fit(*cancer)
    assert repr(value) in str(error.value)


def test_regressor_validates_hyperparameters_too() -> None:
    X, y = make_regression(n_samples=20, n_features=3, random_state=0)
    with pytest.raises(ValueError, match=r"activation.*'softmax'"):
        NeuralNetRegressor(activation="softmax").fit(X, y)
