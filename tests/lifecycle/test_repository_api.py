"""The model-repository endpoints over HTTP: index, load, unload, the admin key, and their errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from neuralnet.artifacts import MODEL_FILE
from service import create_app
from service.settings import Settings

ADMIN = {"X-Admin-Key": "admin-secret"}


@pytest.fixture
def client(models_root: Path) -> Iterator[TestClient]:
    settings = Settings(
        model_dir=models_root / "latest",
        access_log=False,
        admin_api_key=SecretStr("admin-secret"),
        api_key=SecretStr("user-key"),
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _index(client: TestClient) -> dict[str, dict[str, Any]]:
    response = client.get("/v2/repository/index", headers=ADMIN)
    assert response.status_code == 200
    return {entry["version"]: entry for entry in response.json()}


def test_the_index_lists_every_version_with_its_state(client: TestClient) -> None:
    index = _index(client)
    assert index["v-a"] == {
        "name": "wdbc",
        "version": "v-a",
        "state": "READY",
        "reason": "",
        "latest": True,
        "warnings": [],
    }
    assert index["v-b"]["state"] == "UNAVAILABLE"
    assert index["v-b"]["reason"] == "not loaded"
    assert "latest" not in index
    assert (
        client.post("/v2/repository/index", headers=ADMIN).json()
        == client.get("/v2/repository/index", headers=ADMIN).json()
    )


def test_load_swaps_to_a_named_version_and_back_to_latest(client: TestClient) -> None:
    response = client.post("/v2/repository/models/wdbc/load", json={"parameters": {"version": "v-b"}}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "wdbc", "version": "v-b", "state": "READY", "result": "loaded"}
    assert client.get("/ready").json()["model_version"] == "v-b"
    assert _index(client)["v-b"]["state"] == "READY"
    features = client.get("/metadata").json()["features"]
    row = [(f["training_min"] + f["training_max"]) / 2 for f in features]
    answer = client.post("/predict", json=row, headers={"X-API-Key": "user-key"})
    assert answer.headers["x-model-version"] == answer.json()["model_version"] == "v-b"
    assert client.post("/v2/repository/models/wdbc/load", headers=ADMIN).json()["version"] == "v-a"  # latest


def test_a_version_that_fails_answers_409_with_its_reason_and_the_old_one_serves(
    client: TestClient, models_root: Path
) -> None:
    (models_root / "v-b" / MODEL_FILE).write_bytes(b"\x80\x04 not the hashed bytes")
    response = client.post("/v2/repository/models/wdbc/load", json={"parameters": {"version": "v-b"}}, headers=ADMIN)
    assert response.status_code == 409
    error = response.json()["error"]  # the Open Inference Protocol's shape: one string
    assert "refused (altered); v-a is still served" in error
    assert "does not match the SHA-256" in error
    assert client.get("/ready").json()["model_version"] == "v-a"
    assert _index(client)["v-b"]["reason"].startswith("altered: ")
    assert 'model_load_failures_total{reason="altered"} 1.0' in client.get("/metrics").text


def test_unload_makes_the_service_unready_until_a_load(client: TestClient) -> None:
    assert client.post("/v2/repository/models/wdbc/unload", headers=ADMIN).json()["state"] == "UNAVAILABLE"
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["error"]["details"][0]["type"] == "unloaded"
    assert client.post("/predict", json=[1.0] * 30, headers={"X-API-Key": "user-key"}).status_code == 503
    assert client.post("/v2/repository/models/wdbc/load", headers=ADMIN).status_code == 200
    assert client.get("/ready").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/repository/index"),
        ("POST", "/v2/repository/index"),
        ("POST", "/v2/repository/models/wdbc/load"),
        ("POST", "/v2/repository/models/wdbc/unload"),
    ],
)
def test_repository_endpoints_need_the_admin_key_not_the_api_key(client: TestClient, method: str, path: str) -> None:
    for headers in ({}, {"X-API-Key": "user-key"}, {"X-Admin-Key": "wrong"}, {"Authorization": "Bearer user-key"}):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert "X-Admin-Key" in response.json()["error"]
    assert client.request(method, path, headers={"Authorization": "Bearer admin-secret"}).status_code == 200
    assert client.get("/ready").status_code in (200, 503)


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v2/repository/models/other/load", b"", 404, "serves the model 'wdbc', not 'other'"),
        ("/v2/repository/models/other/unload", b"", 404, "serves the model 'wdbc', not 'other'"),
        ("/v2/repository/models/wdbc/load", b'{"parameters": {"version": "nope"}}', 404, "no model version 'nope'"),
        ("/v2/repository/models/wdbc/load", b'{"parameters": {"version": "../v-b"}}', 404, "no model version"),
        ("/v2/repository/models/wdbc/load", b'{"parameters": {"version": 3}}', 400, "parameters.version"),
        ("/v2/repository/models/wdbc/load", b'{"version": "v-b"}', 400, "version: Extra inputs"),
        ("/v2/repository/models/wdbc/load", b"{not json", 400, "not valid JSON"),
    ],
)
def test_bad_load_requests_get_a_clear_4xx_and_change_nothing(
    client: TestClient, path: str, body: bytes, status: int, message: str
) -> None:
    response = client.post(path, content=body, headers={**ADMIN, "Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert client.get("/ready").json()["model_version"] == "v-a"


def test_without_an_admin_key_the_endpoints_are_open(models_root: Path) -> None:
    with TestClient(create_app(Settings(model_dir=models_root / "latest", access_log=False))) as client:
        assert client.get("/v2/repository/index").status_code == 200
