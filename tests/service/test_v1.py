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


EXPLAIN = "/v1/models/wdbc:explain"


def test_explain_answers_the_predictions_with_one_explanation_per_record(
    client: TestClient, data_rows: NDArray[np.float64]
) -> None:
    rows = data_rows[:7]
    response = client.post(EXPLAIN, json={"instances": rows.tolist()})
    assert response.status_code == 200, response.text
    body = response.json()
    explanations = body.pop("explanations")
    assert body == client.post(PREDICT, json={"instances": rows.tolist()}).json()  # the same predictions
    inline = client.post("/predict?explain=true", json={"instances": rows.tolist()}).json()["predictions"]
    assert explanations == [prediction["explanation"] for prediction in inline]
    for prediction, explanation in zip(body["predictions"], explanations, strict=True):
        gap = prediction["probability_malignant"] - explanation["baseline_probability"]
        assert sum(explanation["attributions"].values()) == pytest.approx(gap, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [("/v1/models/other:explain", {"instances": [[1.0] * 30]}, 404), (EXPLAIN, [1.0] * 30, 400)],
)
def test_explain_errors_are_the_protocols_strings(client: TestClient, path: str, body: Any, status: int) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status
    assert isinstance(response.json()["error"], str)


def test_the_openapi_document_describes_explain_as_predict_with_explanations(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    predict, explain = (spec["paths"][path.replace("wdbc", "{model_name}")]["post"] for path in (PREDICT, EXPLAIN))
    assert explain["requestBody"] == predict["requestBody"]
    answer = explain["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["allOf"][0] == predict["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["allOf"][1]["properties"]["explanations"]["items"] == {"$ref": "#/components/schemas/Explanation"}
    assert "Explanation" in spec["components"]["schemas"]


def test_explain_needs_the_api_key_as_predict_does(
    make_client: Callable[..., TestClient], data_rows: NDArray[np.float64]
) -> None:
    locked = make_client(api_key="s3cret-key")
    body = {"instances": data_rows[:2].tolist()}
    assert locked.post(EXPLAIN, json=body).status_code == 401
    assert locked.post(EXPLAIN, json=body, headers={"X-API-Key": "s3cret-key"}).status_code == 200
