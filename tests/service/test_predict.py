"""POST /predict: the four request forms, the response shape, and parity with the offline pipeline."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from neuralnet.artifacts import Manifest

Offline = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def assert_same_probabilities(served: Any, expected: NDArray[np.float64]) -> None:
    """Bit for bit (JSON floats round-trip exactly)."""
    np.testing.assert_array_equal(np.asarray(served, dtype=np.float64), expected)


def _probabilities(prediction: dict[str, Any], classes: tuple[str, ...]) -> list[float]:
    return [prediction["probabilities"][name] for name in classes]


def test_named_record_gets_one_prediction_object(
    *,
    client: TestClient,
    data_rows: NDArray[np.float64],
    as_named: Callable[[Any], dict[str, Any]],
    manifest: Manifest,
    offline: Offline,
) -> None:
    response = client.post("/predict", json=as_named(data_rows[0]))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"label", "probability_malignant", "probabilities", "out_of_distribution", "model_version"}
    assert body["model_version"] == manifest.model_version
    assert set(body["probabilities"]) == set(manifest.classes)
    assert body["probability_malignant"] == body["probabilities"]["malignant"]
    expected = offline(data_rows[0])[0]
    assert_same_probabilities(_probabilities(body, manifest.classes), expected)
    assert body["label"] == ("malignant" if expected[0] >= manifest.decision_threshold else "benign")


def test_array_record_gets_the_same_answer_as_the_named_one(
    *, client: TestClient, data_rows: NDArray[np.float64], as_named: Callable[[Any], dict[str, Any]]
) -> None:
    named = client.post("/predict", json=as_named(data_rows[5])).json()
    array = client.post("/predict", json=data_rows[5].tolist()).json()
    assert named == array


def test_key_order_does_not_matter(
    *, client: TestClient, data_rows: NDArray[np.float64], as_named: Callable[[Any], dict[str, Any]]
) -> None:
    record = as_named(data_rows[7])
    shuffled = dict(reversed(list(record.items())))
    assert client.post("/predict", json=shuffled).json() == client.post("/predict", json=record).json()


def test_integers_are_numbers_too(client: TestClient, data_rows: NDArray[np.float64]) -> None:
    row = data_rows[3].copy()
    row[0] = 14  # an integer literal in JSON
    response = client.post("/predict", content=("[14," + ",".join(map(repr, row[1:].tolist())) + "]").encode())
    assert response.status_code == 200, response.text
    assert response.json() == client.post("/predict", json=row.tolist()).json()


@pytest.mark.parametrize("form", ["named", "array"])
def test_batch_answers_in_request_order_with_the_kserve_v1_shape(
    *,
    client: TestClient,
    data_rows: NDArray[np.float64],
    as_named: Callable[[Any], dict[str, Any]],
    manifest: Manifest,
    offline: Offline,
    form: str,
) -> None:
    rows = data_rows[10:20]
    instances = [as_named(row) for row in rows] if form == "named" else rows.tolist()
    response = client.post("/predict", json={"instances": instances})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"predictions", "model_version"}
    assert body["model_version"] == manifest.model_version
    assert len(body["predictions"]) == 10
    for prediction, expected in zip(body["predictions"], offline(rows), strict=True):
        assert set(prediction) == {"label", "probability_malignant", "probabilities", "out_of_distribution"}
        assert_same_probabilities(_probabilities(prediction, manifest.classes), expected)


def test_a_batch_of_one_is_still_a_batch(client: TestClient, data_rows: NDArray[np.float64]) -> None:
    body = client.post("/predict", json={"instances": [data_rows[0].tolist()]}).json()
    assert len(body["predictions"]) == 1


def test_labels_follow_the_manifest_threshold(
    *, client: TestClient, data_rows: NDArray[np.float64], manifest: Manifest, offline_proba: NDArray[np.float64]
) -> None:
    body = client.post("/predict", json={"instances": data_rows[:200].tolist()}).json()
    positive = manifest.positive_class_index
    expected = [
        manifest.classes[positive] if p[positive] >= manifest.decision_threshold else manifest.classes[1 - positive]
        for p in offline_proba[:200]
    ]
    assert [prediction["label"] for prediction in body["predictions"]] == expected
    assert {"malignant", "benign"} == set(expected)  # both labels are exercised


@pytest.mark.parametrize("form", ["named", "array"])
def test_parity_with_the_offline_pipeline_on_all_569_rows_batched(
    *,
    make_client: Callable[..., TestClient],
    data_rows: NDArray[np.float64],
    as_named: Callable[[Any], dict[str, Any]],
    manifest: Manifest,
    offline_proba: NDArray[np.float64],
    form: str,
) -> None:
    client = make_client()  # default limits: 10,000 rows, 8 MiB
    instances = [as_named(row) for row in data_rows] if form == "named" else data_rows.tolist()
    body = client.post("/predict", json={"instances": instances}).json()
    served = np.array([_probabilities(p, manifest.classes) for p in body["predictions"]])
    assert_same_probabilities(served, offline_proba)


@pytest.mark.parametrize("form", ["named", "array"])
def test_parity_with_the_offline_pipeline_on_all_569_rows_one_by_one(
    *,
    client: TestClient,
    data_rows: NDArray[np.float64],
    as_named: Callable[[Any], dict[str, Any]],
    manifest: Manifest,
    offline: Offline,
    form: str,
) -> None:
    served, expected = [], []
    for row in data_rows:
        payload = as_named(row) if form == "named" else row.tolist()
        served.append(_probabilities(client.post("/predict", json=payload).json(), manifest.classes))
        expected.append(offline(row)[0])
    assert_same_probabilities(served, np.array(expected))


def _no_constants(token: str) -> Any:
    raise AssertionError(f"non-finite number {token} in a response")


def test_every_response_is_finite_json(client: TestClient, data_rows: NDArray[np.float64]) -> None:
    response = client.post("/predict", json={"instances": data_rows[:50].tolist()})
    assert response.status_code == 200
    json.loads(response.text, parse_constant=_no_constants)
