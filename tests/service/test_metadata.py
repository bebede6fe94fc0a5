"""GET /metadata and the OpenAPI document: both built from the manifest, with examples that work."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from neuralnet.artifacts import Manifest


def test_metadata_describes_the_served_model(client: TestClient, manifest: Manifest) -> None:
    response = client.get("/metadata")
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == manifest.model_version
    assert body["classes"] == list(manifest.classes)
    assert body["positive_class"] == manifest.positive_class
    assert body["decision_threshold"] == manifest.decision_threshold
    assert body["artifacts"] == manifest.artifacts
    assert body["metrics"] == manifest.metrics
    assert body["limits"] == {"max_batch_rows": 1000, "max_body_bytes": 1024 * 1024}
    assert [feature["name"] for feature in body["features"]] == [f.api_name for f in manifest.features]
    for position, (served, feature) in enumerate(zip(body["features"], manifest.features, strict=True)):
        assert served == {
            "name": feature.api_name,
            "position": position,
            "dataset_name": feature.name,
            "valid_min": feature.valid_min,
            "valid_max": feature.valid_max,
            "training_min": feature.training_min,
            "training_max": feature.training_max,
        }


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def test_the_request_schema_lists_the_manifest_features(spec: dict[str, Any], manifest: Manifest) -> None:
    named = spec["components"]["schemas"]["NamedRecord"]
    assert list(named["properties"]) == [feature.api_name for feature in manifest.features]
    assert named["additionalProperties"] is False
    assert set(named["required"]) == {feature.api_name for feature in manifest.features}
    for feature in manifest.features:
        assert named["properties"][feature.api_name]["minimum"] == feature.valid_min
        assert named["properties"][feature.api_name]["maximum"] == feature.valid_max
    array = spec["components"]["schemas"]["ArrayRecord"]
    assert len(array["prefixItems"]) == len(manifest.features)
    assert array["minItems"] == array["maxItems"] == len(manifest.features)


def test_the_docs_examples_work_when_pasted(client: TestClient, spec: dict[str, Any]) -> None:
    content = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    responses = spec["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]["examples"]
    assert set(content["examples"]) == {"named", "array", "batch_named", "batch_array"}
    for key, example in content["examples"].items():
        response = client.post("/predict", json=example["value"])
        assert response.status_code == 200, (key, response.text)
        assert response.json() == responses[key]["value"]
    labels = {p["label"] for p in responses["batch_named"]["value"]["predictions"]}
    assert labels == {"benign", "malignant"}  # the two example records show both answers


def test_every_documented_error_uses_the_error_schema(spec: dict[str, Any]) -> None:
    responses = spec["paths"]["/predict"]["post"]["responses"]
    assert {"200", "400", "413", "415", "422", "503"} <= set(responses)
    for status in ("400", "413", "415", "422", "503"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_nothing_from_other_hosts(client: TestClient, page: str) -> None:
    """Every script, style and icon of the docs pages is served by the service itself (see the browser test)."""
    response = client.get(page)
    assert response.status_code == 200
    assert "https://" not in response.text
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", response.text)
    assert sources
    for source in sources:
        assert source.startswith("/"), source
        assert client.get(source).status_code == 200, source
