"""NetworkEnsembleClassifier: seeding, averaging, persistence."""

from pathlib import Path

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from neuralnet import NetworkEnsembleClassifier, NeuralNetClassifier
from neuralnet.aliases import Array

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def cancer() -> tuple[Array, Array]:
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _ensemble(n_members: int = 3, random_state: int | None = 0) -> NetworkEnsembleClassifier:
    member = NeuralNetClassifier((8,), activation="tanh", learning_rate=1e-2, max_iter=20)
    return NetworkEnsembleClassifier(member, n_members=n_members, random_state=random_state)


def test_members_get_distinct_seeds_drawn_from_the_ensemble_seed(cancer: tuple[Array, Array]) -> None:
    first, second = _ensemble().fit(*cancer), _ensemble().fit(*cancer)
    seeds = [member.random_state for member in first.estimators_]

    assert len(set(seeds)) == 3
    assert seeds == [member.random_state for member in second.estimators_]
    assert_array_equal(first.predict_proba(cancer[0]), second.predict_proba(cancer[0]))
    assert first.estimator.random_state is None  # the template is left untouched
    other = _ensemble(random_state=1).fit(*cancer)
    assert seeds != [member.random_state for member in other.estimators_]


def test_probabilities_are_the_mean_of_the_members(cancer: tuple[Array, Array]) -> None:
    X, y = cancer
    ensemble = _ensemble().fit(X, y)
    members = np.mean([member.predict_proba(X) for member in ensemble.estimators_], axis=0)

    assert_allclose(ensemble.predict_proba(X), members, rtol=1e-12)
    assert_array_equal(ensemble.predict(X), ensemble.classes_[np.argmax(members, axis=1)])
    assert ensemble.score(X, y) > 0.95


def test_multiclass_ensemble_with_string_labels() -> None:
    X, y = load_iris(return_X_y=True)
    labels = np.array(["a", "b", "c"])[y]
    ensemble = _ensemble().fit(StandardScaler().fit_transform(X), labels)
    assert_array_equal(ensemble.classes_, ["a", "b", "c"])
    assert_allclose(ensemble.predict_proba(StandardScaler().fit_transform(X)).sum(axis=1), 1.0)


def test_any_seeded_classifier_can_be_a_member(cancer: tuple[Array, Array]) -> None:
    X, y = cancer
    ensemble = NetworkEnsembleClassifier(LogisticRegression(), n_members=2, random_state=0).fit(X, y)
    members = np.mean([member.predict_proba(X) for member in ensemble.estimators_], axis=0)
    assert_allclose(ensemble.predict_proba(X), members)


def test_ensemble_joblib_round_trip(cancer: tuple[Array, Array], tmp_path: Path) -> None:
    X, y = cancer
    ensemble = _ensemble().fit(X, y)
    joblib.dump(ensemble, tmp_path / "ensemble.joblib")
    loaded = joblib.load(tmp_path / "ensemble.joblib")

    assert type(loaded) is NetworkEnsembleClassifier
    assert_array_equal(loaded.predict_proba(X), ensemble.predict_proba(X))


@pytest.mark.parametrize("n_members", [0, 2.0, "5"])
def test_bad_member_count_is_refused(n_members: object, cancer: tuple[Array, Array]) -> None:
    with pytest.raises(ValueError, match=f"n_members.*{n_members!r}"):
        NetworkEnsembleClassifier(n_members=n_members).fit(*cancer)  # type: ignore[arg-type]
