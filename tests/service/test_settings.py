"""Settings come from environment variables (no prefix); the dependency can be overridden in tests."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service import create_app
from service.settings import Settings, get_settings

VARIABLES = (
    "MODEL_DIR",
    "MAX_BATCH_ROWS",
    "MAX_BODY_BYTES",
    "LOG_LEVEL",
    "ACCESS_LOG",
    "API_KEY",
    "CORS_ORIGINS",
    "INSTANCE_NAME",
    "MODEL_SIGNING_KEY",
    "MODEL_SIGNING_KEY_PREVIOUS",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in VARIABLES:
        monkeypatch.setenv(name, "")  # records the original state for the undo
        monkeypatch.delenv(name)
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.model_dir == Path("models/latest")
    assert settings.max_batch_rows == 10_000
    assert settings.max_body_bytes == 8 * 1024 * 1024
    assert settings.log_level == "INFO"
    assert settings.access_log is True
    assert settings.api_key is None
    assert settings.cors_origins == ()
    assert settings.instance_name == socket.gethostname()


def test_every_variable_is_read_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MODEL_DIR", "/srv/model")
    clean_env.setenv("MAX_BATCH_ROWS", "50")
    clean_env.setenv("MAX_BODY_BYTES", "65536")
    clean_env.setenv("LOG_LEVEL", "debug")
    clean_env.setenv("ACCESS_LOG", "false")
    clean_env.setenv("API_KEY", "k3y-Zq9")
    clean_env.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    clean_env.setenv("INSTANCE_NAME", "replica-2")
    settings = Settings()
    assert settings.model_dir == Path("/srv/model")
    assert settings.max_batch_rows == 50
    assert settings.max_body_bytes == 65536
    assert settings.log_level == "DEBUG"
    assert settings.access_log is False
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "k3y-Zq9"
    assert "k3y-Zq9" not in repr(settings)
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.instance_name == "replica-2"


def test_an_empty_api_key_means_no_key(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("API_KEY", "  ")
    assert Settings().api_key is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_BATCH_ROWS", "0"),
        ("MAX_BODY_BYTES", "10"),
        ("LOG_LEVEL", "LOUD"),
        ("MAX_BATCH_ROWS", "x"),
        ("MODEL_SIGNING_KEY", "too-short-to-be-safe"),
        ("MODEL_SIGNING_KEY_PREVIOUS", "p" * 32),
    ],
)
def test_bad_values_are_refused_at_start(clean_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_the_settings_dependency_can_be_overridden(make_settings: Callable[..., Settings]) -> None:
    app: FastAPI = create_app(make_settings(api_key="first"))
    app.dependency_overrides[get_settings] = lambda: make_settings(api_key="second")
    with TestClient(app) as client:
        assert client.post("/predict", json=[1.0], headers={"X-API-Key": "first"}).status_code == 401
        assert client.post("/predict", json=[1.0], headers={"X-API-Key": "second"}).status_code == 422
