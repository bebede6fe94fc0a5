"""A trailing slash redirects to the endpoint with a relative Location: never one built from the client's Host."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("method", "path", "location"),
    [("GET", "/metadata/", "/metadata"), ("POST", "/predict/?x=1", "/predict?x=1"), ("GET", "/health/", "/health")],
)
def test_the_redirect_ignores_the_host_header(client: TestClient, method: str, path: str, location: str) -> None:
    response = client.request(method, path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == location


@pytest.mark.parametrize("path", ["/nothing/", "//evil.example/", "/"])
def test_no_redirect_towards_what_is_not_an_endpoint(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == (404 if path == "/nothing/" else 200)  # "/" is KServe V1's liveness
    assert "location" not in response.headers
