"""Liveness and readiness: a damaged or missing model gives a live but unready service, never a crash."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from neuralnet.artifacts import MANIFEST_FILE, MODEL_FILE, NOVELTY_FILE, SCALER_FILE, Manifest
from service import create_app
from service.settings import Settings


def test_ready_with_a_verified_model(client: TestClient, manifest: Manifest) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "model_loaded": True, "model_version": manifest.model_version}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "model_version": manifest.model_version}


def test_not_ready_before_the_lifespan_has_loaded_the_model(make_settings: Callable[..., Settings]) -> None:
    client = TestClient(create_app(make_settings()), raise_server_exceptions=False)  # not entered: no lifespan
    assert client.get("/health").json()["model_loaded"] is False
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_not_ready"
    assert "not been loaded" in response.json()["error"]["message"]
    with client:
        assert client.get("/ready").status_code == 200


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def _damage_manifest_version(directory: Path) -> None:
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    manifest["format_version"] = 999
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "altered-model": (lambda d: _flip_a_byte(d / MODEL_FILE), "altered"),
    "altered-scaler": (lambda d: _flip_a_byte(d / SCALER_FILE), "altered"),
    "altered-novelty-statistics": (lambda d: _flip_a_byte(d / NOVELTY_FILE), "altered"),
    "altered-model-card": (lambda d: _write(d / "model_card.json", "{}"), "altered"),
    "missing-model": (lambda d: (d / MODEL_FILE).unlink(), "missing"),
    "missing-scaler": (lambda d: (d / SCALER_FILE).unlink(), "missing"),
    "missing-manifest": (lambda d: (d / MANIFEST_FILE).unlink(), "missing"),
    "missing-directory": (shutil.rmtree, "missing"),
    "incompatible-format": (_damage_manifest_version, "incompatible"),
    "manifest-not-json": (lambda d: _write(d / MANIFEST_FILE, "{"), "incompatible"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_bad_model_directory_leaves_the_service_live_but_not_ready(
    model_copy: Path,
    make_client: Callable[..., TestClient],
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    harm, reason = DAMAGE[damage]
    harm(model_copy)
    with caplog.at_level(logging.INFO, logger="service"):
        client = make_client(model_dir=model_copy)

    failures = [record for record in caplog.records if record.name == "service.model"]
    assert len(failures) == 1  # one clear line, no traceback
    assert failures[0].levelno == logging.ERROR
    assert failures[0].exc_info is None
    assert reason in failures[0].getMessage()
    assert "\n" not in failures[0].getMessage()

    assert client.get("/health").status_code == 200
    assert client.get("/health").json()["model_loaded"] is False

    ready = client.get("/ready")
    assert ready.status_code == 503
    error = ready.json()["error"]
    assert error["code"] == "model_not_ready"
    assert error["details"][0]["type"] == reason
    assert "Traceback" not in ready.text
    assert str(model_copy.parent) not in ready.text, "a 503 must not tell clients where the server keeps files"

    for method, path, body in (("POST", "/predict", b"[1]"), ("GET", "/metadata", None)):
        response = client.request(method, path, content=body)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "model_not_ready"

    assert client.get("/openapi.json").status_code == 200  # the docs still work, without the feature schema
    metrics = client.get("/metrics").text
    assert f'model_load_failures_total{{reason="{reason}"}} 1.0' in metrics
    assert "model_ready 0.0" in metrics


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_forged_model_file_with_a_rehashed_manifest_never_runs_and_the_service_stays_unready(
    model_copy: Path, tmp_path: Path, make_client: Callable[..., TestClient]
) -> None:
    marker = tmp_path / "payload-ran"
    model = joblib.load(model_copy / MODEL_FILE)
    model.estimators_[0].note_ = _Payload(marker)  # hidden deep inside an otherwise real model
    joblib.dump(model, model_copy / MODEL_FILE)
    document = json.loads((model_copy / MANIFEST_FILE).read_text())
    document["artifacts"][MODEL_FILE] = hashlib.sha256((model_copy / MODEL_FILE).read_bytes()).hexdigest()
    (model_copy / MANIFEST_FILE).write_text(json.dumps(document))

    client = make_client(model_dir=model_copy)
    ready = client.get("/ready")
    assert ready.status_code == 503
    detail = ready.json()["error"]["details"][0]
    assert detail["type"] == "forbidden"
    assert "posix.system" in detail["msg"]
    assert client.post("/predict", content=b"[1]").status_code == 503
    assert not marker.exists(), "the payload ran"


def test_a_failed_reload_keeps_serving_the_previous_model(
    model_copy: Path, make_client: Callable[..., TestClient], manifest: Manifest
) -> None:
    client = make_client(model_dir=model_copy)
    _flip_a_byte(model_copy / MODEL_FILE)
    dataplane = client.app.state.context.dataplane  # type: ignore[attr-defined]
    assert dataplane.registry.load().result == "failed"
    assert client.get("/ready").json() == {"status": "ready", "model_version": manifest.model_version}


def test_a_reload_swaps_the_model_atomically(
    model_copy: Path, make_client: Callable[..., TestClient], manifest: Manifest, data_rows: NDArray[np.float64]
) -> None:
    client = make_client(model_dir=model_copy)
    assert client.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]
    document = json.loads((model_copy / MANIFEST_FILE).read_text())
    document["model_version"] = "reloaded-2"
    (model_copy / MANIFEST_FILE).write_text(json.dumps(document))

    dataplane = client.app.state.context.dataplane  # type: ignore[attr-defined]
    assert dataplane.registry.load().result == "loaded"

    assert client.get("/ready").json() == {"status": "ready", "model_version": "reloaded-2"}
    assert client.post("/predict", json=data_rows[0].tolist()).json()["model_version"] == "reloaded-2"
    spec = client.get("/openapi.json").json()  # rebuilt for the new model
    examples = spec["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]["examples"]
    assert examples["array"]["value"]["model_version"] == "reloaded-2"
    metrics = client.get("/metrics").text
    assert 'model_info{model_version="reloaded-2"} 1.0' in metrics
    assert f'model_info{{model_version="{manifest.model_version}"}}' not in metrics


@pytest.mark.parametrize("change", ["edited", "deleted"])
def test_a_changed_report_file_is_logged_and_the_model_still_loads(
    model_copy: Path, make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture, change: str
) -> None:
    """report.md and the plots are for people: editing one must not take the service down."""
    report = model_copy / "report.md"
    if change == "edited":
        report.write_text(report.read_text() + "\nReviewed by the tumour board.\n")
    else:
        report.unlink()
    with caplog.at_level(logging.INFO, logger="service"):
        client = make_client(model_dir=model_copy)
    assert client.get("/ready").status_code == 200
    changed = [record for record in caplog.records if getattr(record, "event", None) == "report_file_changed"]
    assert [record.getMessage().split(" ")[:3] for record in changed] == [["report", "file", "report.md"]]
    assert changed[0].levelno == logging.WARNING
