"""The small pieces: feature names and bounds, held-out metrics, the CV protocol, JSON-safe parameters."""

from __future__ import annotations

import json
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.ensemble import BaggingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuralnet import NetworkEnsembleClassifier, NeuralNetClassifier
from training import dataset, evaluation
from training.estimators import json_safe_params


def test_api_name_is_snake_case() -> None:
    assert dataset.api_name("mean radius") == "mean_radius"
    assert dataset.api_name("worst concave points") == "worst_concave_points"
    assert dataset.api_name(" Radius (SE) ") == "radius_se"


def test_feature_bounds_come_from_the_given_rows() -> None:
    X = np.array([[1.0, 0.0], [3.0, 2.0]])
    features = dataset.features(("a b", "c"), X)
    assert [(f.training_min, f.training_max, f.valid_min, f.valid_max) for f in features] == [
        (1.0, 3.0, 0.0, 3.0 * dataset.VALID_MAX_FACTOR),
        (0.0, 2.0, 0.0, 2.0 * dataset.VALID_MAX_FACTOR),
    ]
    with pytest.raises(ValueError, match="negative"):
        dataset.features(("a", "b"), -X)


def test_split_is_stratified_and_reproducible() -> None:
    data = dataset.load_dataset()
    assert data.X.shape == (569, 30)
    assert data.target_names == ("malignant", "benign")
    first, again, other = (dataset.split_dataset(data, seed) for seed in (0, 0, 1))
    assert np.array_equal(first.X_train, again.X_train)
    assert not np.array_equal(first.X_train, other.X_train)
    assert len(first.y_test) == 114
    assert abs(first.y_train.mean() - data.y.mean()) < 0.01


class _FixedProba:
    """A stand-in fitted model returning given P(class 0 = malignant)."""

    classes_ = np.array([0, 1])

    def __init__(self, p_malignant: list[float]) -> None:
        self.p = np.array(p_malignant)

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.column_stack([self.p, 1 - self.p])


def test_heldout_metrics_threshold_on_p_malignant_and_confusion_orientation() -> None:
    model = _FixedProba([0.9, 0.5, 0.4, 0.1, 0.2])
    y = np.array([0, 0, 0, 1, 1])  # three malignant, two benign
    result = evaluation.evaluate_heldout(
        model, np.zeros((5, 1)), y, class_names=("malignant", "benign"), positive_class="malignant", threshold=0.5
    )
    # 0.5 reaches the threshold -> malignant; 0.4 is a missed malignant
    assert result.labels == ("malignant", "benign")
    assert result.confusion == [[2, 1], [0, 2]]
    assert result.metrics["accuracy"] == pytest.approx(0.8)
    assert result.metrics["roc_auc"] == pytest.approx(1.0)
    expected_brier = np.mean((np.array([0.9, 0.5, 0.4, 0.1, 0.2]) - np.array([1, 1, 1, 0, 0])) ** 2)
    assert result.metrics["brier_score"] == pytest.approx(expected_brier)
    assert result.report["malignant"]["recall"] == pytest.approx(2 / 3)
    json.dumps(result.as_json())


def test_cv_protocol_reproduces_the_logistic_regression_anchor() -> None:
    data = dataset.load_dataset()
    scores = evaluation.CrossValidation(
        {"LogisticRegression": LogisticRegression}, data.X, data.y, n_repeats=10
    ).results()
    summary = scores["LogisticRegression"].summary()
    assert len(scores["LogisticRegression"].folds["accuracy"]) == 50
    anchor = evaluation.ANCHORS["LogisticRegression"]
    assert summary["accuracy"]["mean"] == pytest.approx(anchor["accuracy"], abs=5e-5)
    assert summary["roc_auc"]["mean"] == pytest.approx(anchor["roc_auc"], abs=5e-5)
    assert summary["log_loss"]["mean"] == pytest.approx(anchor["log_loss"], abs=5e-4)
    assert summary["brier_score"]["mean"] == pytest.approx(anchor["brier_score"], abs=5e-5)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cv_of_stacked_folds_scores_exactly_like_one_pipeline_per_fold() -> None:
    """Folds fitted together (networks, ensembles) and one by one (the rest) score as scikit-learn's own CV does."""
    data = dataset.load_dataset()
    network = NeuralNetClassifier((4,), max_iter=30, random_state=0)
    ensemble = NetworkEnsembleClassifier(
        NeuralNetClassifier((4,), activation="tanh", batch_size=64, early_stopping=True), n_members=3, random_state=0
    )
    models = {"network": lambda: clone(network), "ensemble": lambda: clone(ensemble), "lr": LogisticRegression}
    scores = evaluation.CrossValidation(models, data.X, data.y, n_repeats=2, n_jobs=1).results()
    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=evaluation.CV_RANDOM_STATE)
    for name, factory in models.items():
        expected = cross_validate(
            make_pipeline(StandardScaler(), factory()), data.X, data.y, cv=folds, scoring=evaluation.SCORERS
        )
        for metric in evaluation.SCORERS:
            assert_array_equal(scores[name].folds[metric], np.abs(expected[f"test_{metric}"]), err_msg=name)


class _SlowLogisticRegression(LogisticRegression):
    """Leaves a file behind for every fit, which takes a while: shows whether the workers are still fitting."""

    def __init__(self, marker_dir: str = "", C: float = 1.0) -> None:
        super().__init__(C=C)
        self.marker_dir = marker_dir

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _SlowLogisticRegression:
        time.sleep(0.3)
        (Path(self.marker_dir) / uuid.uuid4().hex).touch()
        super().fit(X, y, sample_weight)
        return self


def test_cancelled_cv_stops_fitting(tmp_path: Path) -> None:
    """A run that fails while the cross-validation works in the background stops the workers at once."""
    data = dataset.load_dataset()
    slow = {"slow": lambda: _SlowLogisticRegression(str(tmp_path))}
    cross_validation = evaluation.CrossValidation(slow, data.X, data.y, n_repeats=10, n_jobs=2)  # 50 x 0.3 s
    deadline = time.monotonic() + 60
    while not any(tmp_path.iterdir()) and time.monotonic() < deadline:  # the workers start, then fit
        time.sleep(0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cross_validation.cancel()
    at_cancel = len(list(tmp_path.iterdir()))
    time.sleep(2.0)
    assert 0 < at_cancel < 50
    assert len(list(tmp_path.iterdir())) <= at_cancel + 2  # only the fits already running may finish
    assert not caught


def test_check_target_knows_which_way_is_better() -> None:
    checks = evaluation.check_target({"accuracy": 0.98, "roc_auc": 0.99, "log_loss": 0.07, "brier_score": 0.02})
    assert {name: check["passed"] for name, check in checks.items()} == {
        "accuracy": True,
        "roc_auc": False,
        "log_loss": True,
        "brier_score": False,
    }


def test_json_safe_params_expands_nested_estimators_readably() -> None:
    params = json_safe_params(BaggingClassifier(LogisticRegression(C=np.float64(2.0)), n_estimators=3))
    assert params["class"].endswith("BaggingClassifier")
    assert params["params"]["n_estimators"] == 3
    inner = params["params"]["estimator"]
    assert inner["class"].endswith("LogisticRegression")
    assert inner["params"]["C"] == 2.0
    assert type(inner["params"]["C"]) is float
    assert json.loads(json.dumps(params)) == params
