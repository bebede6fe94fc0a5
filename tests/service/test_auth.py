"""API_KEY: when set, /predict needs it (X-API-Key or a bearer token); the other endpoints stay open."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

KEY = "s3cret-key"


@pytest.fixture
def locked(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(api_key=KEY)


@pytest.mark.parametrize(
    "headers",
    [{"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}, {"authorization": f"bearer {KEY}"}],
    ids=["x-api-key", "bearer", "lower-case"],
)
def test_the_right_key_opens_predict(
    locked: TestClient, data_rows: NDArray[np.float64], headers: dict[str, str]
) -> None:
    assert locked.post("/predict", json=data_rows[0].tolist(), headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong"},
        {"X-API-Key": KEY[:-1]},
        {"X-API-Key": KEY.upper()},
        {"Authorization": f"Bearer {KEY.upper()}"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {KEY}"},
        {"X-API-Key": ""},
        {b"X-API-Key": "ünïcode".encode()},
    ],
    ids=[
        "none",
        "wrong",
        "prefix",
        "other-case",
        "other-case-bearer",
        "wrong-bearer",
        "basic-scheme",
        "empty",
        "non-ascii",
    ],
)
def test_no_or_a_wrong_key_gets_401(
    locked: TestClient, data_rows: NDArray[np.float64], headers: Mapping[str, str] | Mapping[bytes, bytes]
) -> None:
    response = locked.post("/predict", json=data_rows[0].tolist(), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert KEY not in response.text


def test_auth_is_checked_before_the_body(locked: TestClient) -> None:
    response = locked.post("/predict", content=b"not json", headers={"content-type": "text/plain"})
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/health", "/ready", "/metadata", "/metrics", "/openapi.json"])
def test_other_endpoints_stay_open(locked: TestClient, path: str) -> None:
    assert locked.get(path).status_code == 200


def test_the_key_is_documented_only_when_required(locked: TestClient, client: TestClient) -> None:
    locked_spec = locked.get("/openapi.json").json()
    assert locked_spec["paths"]["/predict"]["post"]["security"]
    assert set(locked_spec["components"]["securitySchemes"]) == {"APIKeyHeader", "HTTPBearer"}
    assert "security" not in client.get("/openapi.json").json()["paths"]["/predict"]["post"]


def test_without_api_key_predict_is_open(client: TestClient, data_rows: NDArray[np.float64]) -> None:
    assert client.post("/predict", json=data_rows[0].tolist()).status_code == 200
