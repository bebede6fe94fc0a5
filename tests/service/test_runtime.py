"""The model runtime without HTTP: loading through the artifact contract, predicting a matrix."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from neuralnet.artifacts import Manifest
from neuralnet.attribution import Attributions
from service.errors import PredictionFailedError
from service.model import ModelRuntime


@pytest.fixture(scope="module")
def runtime(model_dir: Path) -> ModelRuntime:
    return ModelRuntime.load(model_dir)


def test_predictions_equal_the_offline_pipeline(
    runtime: ModelRuntime,
    data_rows: NDArray[np.float64],
    offline_proba: NDArray[np.float64],
    manifest: Manifest,
) -> None:
    prediction = runtime.predict(data_rows)
    np.testing.assert_array_equal(prediction.probabilities, offline_proba)
    positive = manifest.positive_class_index
    expected = np.where(offline_proba[:, positive] >= manifest.decision_threshold, positive, 1 - positive)
    np.testing.assert_array_equal(prediction.label_indices, expected)
    assert runtime.version == manifest.model_version
    assert runtime.classes == manifest.classes


def test_one_row_is_predicted_as_in_a_batch(runtime: ModelRuntime, data_rows: NDArray[np.float64]) -> None:
    """A lone row takes shorter paths (labels, out-of-distribution score): the same answers, row by row."""
    batch = runtime.predict(data_rows)
    assert batch.novelty is not None
    for i, row in enumerate(data_rows):
        alone = runtime.predict(row[None, :])
        assert alone.novelty is not None
        assert alone.label_indices.tolist() == [batch.label_indices[i]]
        assert alone.label_indices.dtype == batch.label_indices.dtype
        assert alone.novelty.feature_index.tolist() == [batch.novelty.feature_index[i]]
        for name in ("score", "distance", "residual"):
            np.testing.assert_allclose(getattr(alone.novelty, name)[0], getattr(batch.novelty, name)[i], rtol=1e-12)
        assert alone.novelty.flagged.tolist() == [batch.novelty.flagged[i]]


def test_the_threshold_comes_from_the_manifest(runtime: ModelRuntime, data_rows: NDArray[np.float64]) -> None:
    strict = dataclasses.replace(runtime, manifest=runtime.manifest.model_copy(update={"decision_threshold": 0.999}))
    positive = runtime.manifest.positive_class_index
    assert (strict.predict(data_rows).label_indices == positive).sum() < (
        runtime.predict(data_rows).label_indices == positive
    ).sum()


def test_a_probability_exactly_on_the_threshold_is_the_positive_class(runtime: ModelRuntime) -> None:
    threshold = runtime.manifest.decision_threshold
    positive = runtime.manifest.positive_class_index
    p_positive = np.array([threshold, np.nextafter(threshold, 0.0), np.nextafter(threshold, 1.0)])

    class OnTheThreshold:
        def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
            proba = np.empty((len(X), 2))
            proba[:, positive], proba[:, 1 - positive] = p_positive, 1.0 - p_positive
            return proba

        def explain(self, X: NDArray[np.float64], class_index: int) -> Attributions:
            raise NotImplementedError

    on_the_threshold = dataclasses.replace(runtime, model=OnTheThreshold())
    labels = on_the_threshold.predict(np.zeros((3, 30))).label_indices
    assert labels.tolist() == [positive, 1 - positive, positive]  # "reaches the threshold": >=, not >
    p_positive = p_positive[:1]  # one row alone takes a shorter path
    assert on_the_threshold.predict(np.zeros((1, 30))).label_indices.tolist() == [positive]
    p_positive = np.array([np.nextafter(threshold, 0.0)])
    assert on_the_threshold.predict(np.zeros((1, 30))).label_indices.tolist() == [1 - positive]


def test_more_than_two_classes_pick_the_likeliest_other_class(runtime: ModelRuntime) -> None:
    rows = [[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.4, 0.5, 0.1], [0.1, 0.45, 0.45]]

    class ThreeClasses:
        def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.array(rows[: len(X)])

        def explain(self, X: NDArray[np.float64], class_index: int) -> Attributions:
            raise NotImplementedError

    manifest = runtime.manifest.model_copy(update={"classes": ("malignant", "benign", "other")})
    three = dataclasses.replace(runtime, manifest=manifest, model=ThreeClasses())
    assert three.predict(np.zeros((4, 30))).label_indices.tolist() == [0, 2, 1, 1]  # a tie: the first
    for row, label in zip(list(rows), [0, 2, 1, 1], strict=True):  # one row alone takes a shorter path
        rows[:] = [row]
        assert three.predict(np.zeros((1, 30))).label_indices.tolist() == [label]


@pytest.mark.parametrize(
    "output",
    [np.full((1, 2), np.nan), np.array([[0.5, np.inf]]), np.full((2, 2), np.nan), np.zeros((1, 3)), np.zeros((2, 2))],
    ids=["nan", "infinite", "nan-in-a-batch", "columns", "rows"],
)
def test_unusable_model_output_is_a_prediction_failure(runtime: ModelRuntime, output: NDArray[np.float64]) -> None:
    class Odd:
        def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
            return output

        def explain(self, X: NDArray[np.float64], class_index: int) -> Attributions:
            raise NotImplementedError

    with pytest.raises(PredictionFailedError):
        dataclasses.replace(runtime, model=Odd()).predict(np.zeros((1 if output.shape == (2, 2) else len(output), 30)))


def test_loading_unpickles_nothing(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, data_rows: NDArray[np.float64], offline_proba: NDArray[np.float64]
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the runtime unpickled a file")

    monkeypatch.setattr("joblib.load", refuse)
    np.testing.assert_array_equal(ModelRuntime.load(model_dir).predict(data_rows).probabilities, offline_proba)


def test_the_service_imports_neither_scikit_learn_nor_scipy_nor_joblib(model_dir: Path) -> None:
    """They made each worker ready about 1.9 s later and 77 MB larger (measured when they were removed)."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import service.rest.app, service.model\n"
        f"runtime = service.model.ModelRuntime.load({str(model_dir)!r})\n"
        "runtime.predict(np.array([[f.valid_min for f in runtime.manifest.features]]))\n"
        "loaded = sorted({m for m in sys.modules if m.split('.')[0] in {'sklearn', 'scipy', 'joblib'}})\n"
        "assert not loaded, loaded[:10]\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
