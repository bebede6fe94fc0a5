"""With MODEL_SIGNING_KEY the service serves only a manifest signed with it; without, it says the model is unsigned."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from neuralnet.artifacts import MANIFEST_FILE, sign_model_dir

KEY = "s" * 32


@pytest.fixture
def signed_copy(model_copy: Path) -> Path:
    sign_model_dir(model_copy, KEY.encode())
    return model_copy


def test_a_signed_model_is_served_and_says_so(signed_copy: Path, make_client: Callable[..., TestClient]) -> None:
    client = make_client(model_dir=signed_copy, model_signing_key=KEY)
    assert client.get("/ready").status_code == 200
    assert client.get("/metadata").json()["signature"] == "verified"


def test_a_tampered_threshold_is_refused_and_the_service_stays_unready(
    signed_copy: Path, make_client: Callable[..., TestClient], data_rows: NDArray[np.float64]
) -> None:
    manifest = signed_copy / MANIFEST_FILE
    text = manifest.read_text()
    assert '"decision_threshold": 0.5' in text
    manifest.write_text(text.replace('"decision_threshold": 0.5', '"decision_threshold": 0.9999'))

    client = make_client(model_dir=signed_copy, model_signing_key=KEY)
    ready = client.get("/ready")
    assert ready.status_code == 503
    detail = ready.json()["error"]["details"][0]
    assert detail["type"] == "signature"
    assert "does not match its signature" in detail["msg"]
    assert client.post("/predict", json=data_rows[0].tolist()).status_code == 503
    assert 'model_load_failures_total{reason="signature"} 1.0' in client.get("/metrics").text


def test_an_unsigned_model_is_refused_when_the_service_has_a_key(
    model_copy: Path, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(model_dir=model_copy, model_signing_key=KEY)
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert "unsigned" in ready.json()["error"]["details"][0]["msg"]


def test_without_a_key_the_log_and_metadata_say_the_model_is_unsigned(
    model_copy: Path, make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="service.model"):
        client = make_client(model_dir=model_copy)
    assert client.get("/metadata").json()["signature"] == "unsigned"
    assert any(getattr(record, "event", None) == "model_unsigned" for record in caplog.records)
