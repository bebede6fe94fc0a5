"""Integrated gradients through the network's backpropagation: gradients, completeness, cost of the call."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from neuralnet import NetworkEnsembleClassifier, NeuralNetClassifier, ProbabilityModel, make_preset
from neuralnet.aliases import Array
from neuralnet.attribution import TOLERANCE, ClassProbability

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _fit(name: str) -> tuple[ProbabilityModel, Array]:
    if name == "iris-softmax-ensemble":
        X, y = load_iris(return_X_y=True)
        member = NeuralNetClassifier((8,), activation="relu", max_iter=200, random_state=0)
        pipeline: Pipeline = make_pipeline(StandardScaler(), NetworkEnsembleClassifier(member, n_members=3))
    else:
        X, y = load_breast_cancer(return_X_y=True)
        estimator = {
            "default": make_preset("default", 0),
            "seed": make_preset("seed", 0).set_params(max_iter=300),
            "two-layers-sigmoid": NeuralNetClassifier((12, 6), activation="sigmoid", max_iter=100, random_state=0),
        }[name]
        pipeline = make_pipeline(StandardScaler(), estimator)
    pipeline.fit(X, y)
    return ProbabilityModel.from_pipeline(pipeline), X


MODELS = ["default", "seed", "two-layers-sigmoid", "iris-softmax-ensemble"]


@pytest.fixture(scope="module", params=MODELS)
def fitted(request: pytest.FixtureRequest) -> tuple[ProbabilityModel, Array]:
    return _fit(request.param)


def _class_probability(model: ProbabilityModel, class_index: int) -> ClassProbability:
    arrays = model.to_arrays()
    n_layers = sum(1 for name in arrays if name.startswith("coef_"))
    return ClassProbability(
        [arrays[f"coef_{i}"] for i in range(n_layers)],
        [arrays[f"intercept_{i}"] for i in range(n_layers)],
        str(arrays["activation"]),
        str(arrays["output_activation"]),
        int(arrays["n_members"]),
        class_index,
    )


def test_input_gradients_match_central_differences(fitted: tuple[ProbabilityModel, Array]) -> None:
    model, _ = fitted
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(5, model.n_features))
    h = 1e-6
    for class_index in range(len(model.classes)):
        f = _class_probability(model, class_index)
        np.testing.assert_allclose(
            f.probability(Z),
            model.predict_proba(Z * model.to_arrays()["scale"] + model.to_arrays()["mean"])[:, class_index],
            rtol=1e-12,
            atol=1e-14,
        )
        numeric = np.empty_like(Z)
        for i in range(model.n_features):
            step = np.zeros(model.n_features)
            step[i] = h
            numeric[:, i] = (f.probability(Z + step) - f.probability(Z - step)) / (2 * h)
        np.testing.assert_allclose(f.gradient(Z), numeric, rtol=1e-5, atol=1e-9)


def test_attributions_add_up_to_the_change_in_probability(fitted: tuple[ProbabilityModel, Array]) -> None:
    model, X = fitted
    for class_index in range(len(model.classes)):
        explained = model.explain(X, class_index)
        proba = model.predict_proba(X)[:, class_index]
        np.testing.assert_allclose(explained.probability, proba, rtol=0, atol=1e-15)
        gap = explained.probability - explained.baseline_probability
        residual = np.abs(explained.values.sum(axis=1) - gap)
        # Smooth networks meet the tolerance; relu's kinks slow the quadrature down, and the error is reported
        smooth = str(model.to_arrays()["activation"]) != "relu"
        tolerance = TOLERANCE * np.maximum(np.abs(gap), 1e-3) if smooth else 1e-3
        assert np.all(residual <= tolerance), residual.max()
        np.testing.assert_array_equal(residual, explained.completeness_error)
        mean_row = model.to_arrays()["mean"][None, :]
        assert explained.baseline_probability == pytest.approx(model.predict_proba(mean_row)[0, class_index], abs=1e-15)


def test_the_classes_of_a_binary_model_get_opposite_attributions() -> None:
    model, X = _fit("default")
    np.testing.assert_allclose(model.explain(X[:20], 0).values, -model.explain(X[:20], 1).values, atol=1e-15)


def test_a_feature_at_its_training_mean_gets_nothing_and_moving_only_one_feature_credits_only_it() -> None:
    model, _ = _fit("default")
    mean = model.to_arrays()["mean"]
    record = mean.copy()
    record[3] *= 2.0  # mean area doubled, everything else average
    explained = model.explain(record[None, :], 0)
    assert np.count_nonzero(explained.values[0]) == 1
    assert explained.values[0, 3] == pytest.approx(explained.probability[0] - explained.baseline_probability, rel=1e-6)
    assert explained.values[0, 3] > 0  # a larger tumour is more likely malignant


def test_hard_paths_get_more_nodes_until_the_error_is_within_tolerance() -> None:
    model, X = _fit("default")
    extreme = X[:3] * np.array([[3.0], [0.2], [2.5]])  # far from the training data: steep sigmoids on the path
    explained = model.explain(extreme, 0)
    gap = explained.probability - explained.baseline_probability
    assert np.all(explained.completeness_error <= TOLERANCE * np.maximum(np.abs(gap), 1e-3))
    assert explained.nodes.min() >= 32
