"""The model runtime without HTTP: loading through the artifact contract, predicting a matrix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from neuralnet.artifacts import IncompatibleArtifactError, LoadedModel, Manifest, write_model_dir
from service.errors import PredictionFailedError
from service.runtime import ModelRuntime


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


def test_the_threshold_comes_from_the_manifest(runtime: ModelRuntime, data_rows: NDArray[np.float64]) -> None:
    strict = dataclasses.replace(runtime, manifest=runtime.manifest.model_copy(update={"decision_threshold": 0.999}))
    positive = runtime.manifest.positive_class_index
    assert (strict.predict(data_rows).label_indices == positive).sum() < (
        runtime.predict(data_rows).label_indices == positive
    ).sum()


def test_more_than_two_classes_pick_the_likeliest_other_class(runtime: ModelRuntime) -> None:
    class ThreeClasses:
        def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.4, 0.5, 0.1]])[: len(X)]

    manifest = runtime.manifest.model_copy(update={"classes": ("malignant", "benign", "other")})
    three = dataclasses.replace(runtime, manifest=manifest, model=ThreeClasses())
    assert three.predict(np.zeros((3, 30))).label_indices.tolist() == [0, 2, 1]


@pytest.mark.parametrize(
    "output", [np.full((1, 2), np.nan), np.zeros((1, 3)), np.zeros((2, 2))], ids=["nan", "columns", "rows"]
)
def test_unusable_model_output_is_a_prediction_failure(runtime: ModelRuntime, output: NDArray[np.float64]) -> None:
    class Odd:
        def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
            return output

    with pytest.raises(PredictionFailedError):
        dataclasses.replace(runtime, model=Odd()).predict(np.zeros((1, 30)))


def test_a_model_without_a_lean_inference_path_is_incompatible(
    tmp_path: Path, loaded: LoadedModel, data_rows: NDArray[np.float64]
) -> None:
    scaler = StandardScaler().fit(data_rows)
    other = LogisticRegression(max_iter=1000).fit(scaler.transform(data_rows), np.arange(len(data_rows)) % 2)
    fields = loaded.manifest.model_dump(exclude={"format_version", "artifacts"})
    write_model_dir(tmp_path / "logistic", scaler=scaler, model=other, manifest_fields=fields)
    with pytest.raises(IncompatibleArtifactError, match="cannot be served"):
        ModelRuntime.load(tmp_path / "logistic")
