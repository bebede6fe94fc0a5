"""KServe V1: liveness at /, the model's status, and :predict with /predict's records and answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from neuralnet.artifacts import Manifest

PREDICT = "/v1/models/wdbc:predict"


def test_liveness_models_and_status(client: TestClient) -> None:
    assert client.get("/").json() == {"status": "alive"}
    assert client.get("/v1/models").json() == {"models": ["wdbc"]}
    assert client.get("/v1/models/wdbc").json() == {"name": "wdbc", "ready": True}


@pytest.mark.parametrize("form", ["arrays", "named", "dataset-names"])
def test_predict_answers_as_predicts_batch_form(
    client: TestClient,
    manifest: Manifest,
    data_rows: NDArray[np.float64],
    offline: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    as_named: Callable[[Any], dict[str, Any]],
    form: str,
) -> None:
    rows = data_rows[:50]
    names = [feature.name for feature in manifest.features]
    instances: list[Any] = {
        "arrays": rows.tolist(),
        "named": [as_named(row) for row in rows],
        "dataset-names": [dict(zip(names, row.tolist(), strict=True)) for row in rows],
    }[form]
    response = client.post(PREDICT, json={"instances": instances})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == client.post("/predict", json={"instances": instances}).json()
    probabilities = np.array([list(p["probabilities"].values()) for p in body["predictions"]])
    np.testing.assert_array_equal(probabilities, offline(rows))


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v1/models/other:predict", {"instances": [[1.0] * 30]}, 404, "unknown model 'other'"),
        (PREDICT, [0.05] * 30, 400, '{"instances": [record, ...]}'),
        (PREDICT, [1.0] * 30, 400, '{"instances": [record, ...]}'),
        (PREDICT, {"instances": [[1.0] * 29]}, 400, "30"),
        (PREDICT, {"instances": []}, 400, "empty"),
        (PREDICT, {"inputs": [[1.0] * 30]}, 400, "instances"),
    ],
)
def test_errors_are_a_string_with_the_problem(
    client: TestClient, path: str, body: Any, status: int, message: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert isinstance(error, str)
    assert message in error


def test_not_json_and_unknown_models(client: TestClient) -> None:
    assert client.post(PREDICT, content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert client.post(PREDICT, content=b"{}", headers={"content-type": "text/csv"}).status_code == 415
    assert client.get("/v1/models/other").status_code == 404


def test_without_a_model_the_status_is_503(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    client = make_client(model_dir=tmp_path / "missing")
    assert client.get("/").status_code == 200
    assert client.get("/v1/models/wdbc").status_code == 503
    assert client.post(PREDICT, json={"instances": [[1.0] * 30]}).status_code == 503
