"""ProbabilityModel: the serving path gives the pipeline's probabilities, bit for bit, without sklearn."""

import copy
import io
import subprocess
import sys
import time
import warnings
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from neuralnet import NetworkEnsembleClassifier, NeuralNetClassifier, ProbabilityModel, make_preset
from neuralnet.aliases import Array
from neuralnet.inference import PAIRWISE_BLOCK, pairwise_sum

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def cancer() -> tuple[Array, Array]:
    X, y = load_breast_cancer(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def fitted(cancer: tuple[Array, Array]) -> dict[str, Pipeline]:
    X, y = cancer
    single = NeuralNetClassifier((16,), activation="tanh", max_iter=50, random_state=0)
    return {
        "single": make_pipeline(StandardScaler(), single).fit(X, y),
        "seed": make_pipeline(StandardScaler(), make_preset("seed", 0).set_params(max_iter=200)).fit(X, y),
        "default": make_pipeline(StandardScaler(), make_preset("default", 0)).fit(X, y),
    }


@pytest.mark.parametrize("name", ["single", "seed", "default"])
def test_probabilities_equal_the_pipeline_bit_for_bit(
    name: str, fitted: dict[str, Pipeline], cancer: tuple[Array, Array]
) -> None:
    X, _ = cancer
    pipeline = fitted[name]
    model = ProbabilityModel.from_fitted(pipeline[0], pipeline[-1])

    assert_array_equal(model.predict_proba(X), pipeline.predict_proba(X))  # all 569 rows
    assert_array_equal(model.classes, pipeline.classes_)
    assert model.n_features == 30
    assert model.predict_proba(X[:1]).shape == (1, 2)


def test_from_pipeline_and_multiclass_string_labels() -> None:
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    member = NeuralNetClassifier((8,), max_iter=30)
    for classifier in (member.set_params(random_state=0), NetworkEnsembleClassifier(member, n_members=3)):
        pipeline = make_pipeline(StandardScaler(), classifier).fit(X, labels)
        model = ProbabilityModel.from_pipeline(pipeline)
        assert_array_equal(model.predict_proba(X), pipeline.predict_proba(X))
        assert_array_equal(model.classes, ["setosa", "versicolor", "virginica"])


def test_scaler_without_mean_or_scale(cancer: tuple[Array, Array]) -> None:
    X, y = cancer
    for scaler in (StandardScaler(with_mean=False), StandardScaler(with_std=False)):
        pipeline = make_pipeline(scaler, NeuralNetClassifier((4,), max_iter=5, random_state=0)).fit(X, y)
        assert_array_equal(ProbabilityModel.from_pipeline(pipeline).predict_proba(X), pipeline.predict_proba(X))


def test_model_is_a_snapshot(fitted: dict[str, Pipeline], cancer: tuple[Array, Array]) -> None:
    X, _ = cancer
    pipeline = fitted["single"]
    model = ProbabilityModel.from_pipeline(pipeline)
    before = model.predict_proba(X)
    pipeline[-1].coefs_[0] += 1.0  # mutating the estimator afterwards...
    try:
        assert_array_equal(model.predict_proba(X), before)  # ...does not reach the built model
    finally:
        pipeline[-1].coefs_[0] -= 1.0


@pytest.mark.parametrize(
    ("scaler", "classifier", "error"),
    [
        (StandardScaler(), LogisticRegression(), "NeuralNetClassifier or a NetworkEnsembleClassifier"),
        (MinMaxScaler(), NeuralNetClassifier((4,), max_iter=5), "StandardScaler"),
        (StandardScaler(), NetworkEnsembleClassifier(LogisticRegression(), n_members=2), "LogisticRegression"),
    ],
)
def test_unsupported_models_raise_type_error(
    scaler: Any, classifier: Any, error: str, cancer: tuple[Array, Array]
) -> None:
    X, y = cancer
    pipeline = make_pipeline(scaler, classifier).fit(X, y)
    with pytest.raises(TypeError, match=error):
        ProbabilityModel.from_pipeline(pipeline)


def test_unfitted_or_mismatched_parts_are_refused(cancer: tuple[Array, Array]) -> None:
    X, y = cancer
    with pytest.raises(NotFittedError):
        ProbabilityModel.from_fitted(StandardScaler().fit(X), NeuralNetClassifier())
    with pytest.raises(ValueError, match="30 features"):
        ProbabilityModel.from_fitted(StandardScaler().fit(X), NeuralNetClassifier(max_iter=2).fit(X[:, :5], y))
    with pytest.raises(TypeError, match="Pipeline"):
        ProbabilityModel.from_pipeline(make_pipeline(NeuralNetClassifier()))


def _through_npz(model: ProbabilityModel) -> ProbabilityModel:
    """The model after the trip a model directory gives it: np.savez, then np.load without pickles."""
    buffer = io.BytesIO()
    np.savez(buffer, **model.to_arrays())  # type: ignore[arg-type]  # numpy's stub: **arrays may fill allow_pickle
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as archive:
        return ProbabilityModel.from_arrays({name: archive[name] for name in archive.files})


@pytest.mark.parametrize("name", ["single", "seed", "default"])
def test_arrays_round_trip_gives_the_pipeline_bit_for_bit(
    name: str, fitted: dict[str, Pipeline], cancer: tuple[Array, Array]
) -> None:
    X, _ = cancer
    pipeline = fitted[name]
    model = _through_npz(ProbabilityModel.from_pipeline(pipeline))
    assert_array_equal(model.predict_proba(X), pipeline.predict_proba(X))
    for row in X[:5]:  # and one row at a time, as the service predicts
        assert_array_equal(model.predict_proba(row[None, :]), pipeline.predict_proba(row[None, :]))
    assert_array_equal(model.classes, pipeline.classes_)
    assert model.n_features == 30


@pytest.mark.parametrize("name", ["single", "seed", "default"])
def test_one_row_equals_the_pipeline_bit_for_bit_on_every_row_and_when_saturated(
    name: str, fitted: dict[str, Pipeline], cancer: tuple[Array, Array]
) -> None:
    """One row takes its own path (Python floats after the last layer): the pipeline's bits for one row, on all
    569 rows and rows far outside them, also with output weights so large that the sigmoid saturates (the
    clip) and its exp overflows (silently, as in the batch path)."""
    X, _ = cancer
    rng = np.random.default_rng(0)
    far = X[rng.integers(len(X), size=100)] * rng.uniform(0.0, 50.0, size=(100, 30))
    rows = np.vstack((X, far))
    saturated = copy.deepcopy(fitted[name])
    estimator = saturated[-1]
    for network in estimator.estimators_ if isinstance(estimator, NetworkEnsembleClassifier) else [estimator]:
        network.coefs_[-1] *= 1000.0
    for pipeline in (fitted[name], saturated):
        model = ProbabilityModel.from_fitted(pipeline[0], pipeline[-1])
        expected = np.vstack([pipeline.predict_proba(row[None, :]) for row in rows])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            served = np.vstack([model.predict_proba(row[None, :]) for row in rows])
        assert_array_equal(served, expected)
    assert expected.min() == np.finfo(np.float64).eps  # the saturated model clips


def test_the_members_mean_adds_in_numpys_order() -> None:
    rng = np.random.default_rng(0)
    for n in range(1, PAIRWISE_BLOCK + 1):
        for _ in range(20):
            values = rng.uniform(0.0, 1.0, size=(1, n, 1))
            assert pairwise_sum(values.ravel().tolist()) == np.add.reduce(values, axis=1)[0, 0]


def test_arrays_round_trip_keeps_labels_and_scaler_options(cancer: tuple[Array, Array]) -> None:
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    ensemble = NetworkEnsembleClassifier(NeuralNetClassifier((8,), max_iter=30), n_members=3, random_state=0)
    pipelines = [make_pipeline(StandardScaler(), ensemble).fit(X, labels)]
    X_cancer, y_cancer = cancer
    for scaler in (StandardScaler(with_mean=False), StandardScaler(with_std=False)):
        network = NeuralNetClassifier((4,), max_iter=5, random_state=0)
        pipelines.append(make_pipeline(scaler, network).fit(X_cancer, y_cancer))
    for pipeline, rows in zip(pipelines, (X, X_cancer, X_cancer), strict=True):
        model = _through_npz(ProbabilityModel.from_pipeline(pipeline))
        assert_array_equal(model.predict_proba(rows), pipeline.predict_proba(rows))
        assert_array_equal(model.classes, pipeline.classes_)


def test_to_arrays_names_everything_and_refuses_object_classes(fitted: dict[str, Pipeline]) -> None:
    model = ProbabilityModel.from_pipeline(fitted["default"])
    arrays = model.to_arrays()
    layers = {"coef_0", "intercept_0", "coef_1", "intercept_1"}
    assert set(arrays) == {"mean", "scale", *layers, "activation", "output_activation", "n_members", "classes"}
    assert arrays["coef_0"].shape == (30, 320)  # ten members of 32 units, side by side
    assert (str(arrays["activation"]), str(arrays["output_activation"]), int(arrays["n_members"])) == (
        "tanh",
        "sigmoid",
        10,
    )
    model.classes = np.array([0, 1], dtype=object)
    with pytest.raises(ValueError, match="numbers or strings"):
        model.to_arrays()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"coef_0": None, "coef_1": None}, "no layer"),
        ({"coef_0": None}, r"missing \['coef_0'\], unknown \['coef_1', 'intercept_1'\]"),
        ({"coef_1": None}, r"missing \[\], unknown \['intercept_1'\]"),
        ({"classes": np.array([[0, 1]])}, "classes must be 1-D"),
        ({"classes": np.array([0])}, "two or more"),
        ({"n_members": np.array(1.0)}, "n_members must be a scalar integer"),
        ({"n_members": np.array(0)}, "in 0 member"),
        ({"activation": np.array(["tanh"])}, "activation must be one of"),
        ({"scale": np.zeros(30)}, "scale must be positive"),
        ({"intercept_1": np.array([np.inf])}, "intercept_1 holds non-finite values"),
    ],
    ids=["no-layer", "gap", "half-layer", "2d-classes", "one-class", "float-n", "no-member", "vector", "zero", "inf"],
)
def test_from_arrays_names_what_is_wrong(change: dict[str, Any], message: str, fitted: dict[str, Pipeline]) -> None:
    arrays: dict[str, Any] = ProbabilityModel.from_pipeline(fitted["single"]).to_arrays()
    for name, value in change.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    with pytest.raises(ValueError, match=message):
        ProbabilityModel.from_arrays(arrays)


def test_serving_modules_import_neither_scikit_learn_nor_scipy() -> None:
    code = (
        "import sys\n"
        "import neuralnet, neuralnet.inference, neuralnet.artifacts\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'})\n"
        "assert not loaded, loaded\n"
        "assert 'ProbabilityModel' in dir(neuralnet) and neuralnet.make_preset is not None\n"  # still there, lazily
        "assert 'sklearn' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr


def test_package_names_resolve_lazily_and_unknown_ones_fail() -> None:
    import neuralnet

    assert neuralnet.ProbabilityModel is ProbabilityModel
    assert set(neuralnet.__all__) <= set(dir(neuralnet))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = neuralnet.Nope


def test_single_row_prediction_skips_sklearn_overhead(fitted: dict[str, Pipeline]) -> None:
    """Tens of microseconds at most (about 15 for one network, 30 for the ten-member default on the
    development machine), where the validating pipeline takes hundreds. Best of many runs, so that a
    busy machine does not make it flaky."""
    row = np.random.RandomState(0).normal(size=(1, 30))
    for pipeline in fitted.values():
        model = ProbabilityModel.from_pipeline(pipeline)
        best = min(_seconds_per_call(model.predict_proba, row) for _ in range(20))
        assert best < 150e-6


def _seconds_per_call(predict: Any, row: Array, calls: int = 50) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        predict(row)
    return (time.perf_counter() - start) / calls
