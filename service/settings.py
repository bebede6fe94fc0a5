"""Service settings, read from environment variables (no prefix) once, and the dependency that hands them out."""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from neuralnet.artifacts import SigningKeys

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Every knob of the service. Environment variables use the upper-case field name, e.g. ``MODEL_DIR``."""

    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", frozen=True, protected_namespaces=()
    )

    model_dir: Path = Field(
        default=Path("models/latest"), description="Model directory to serve (written by the trainer)."
    )
    model_name: str = Field(
        default="wdbc",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
        description="Name of the model in the Open Inference Protocol and KServe V1 paths (/v2/models/<name>).",
    )
    max_batch_rows: int = Field(
        default=10_000, ge=1, description="Most rows one inference request may carry (every protocol)."
    )
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted, in bytes; larger bodies get 413 (chunked ones too).",
    )
    inflight_budget_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Request bodies worked on at once, in bytes, per process; beyond it 503 with Retry-After.",
    )
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, description="Largest request line plus headers, in bytes; more gets 431."
    )
    header_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a client may take to send a request's headers; then 408."
    )
    body_timeout: float = Field(
        default=30.0, gt=0, description="Seconds a client may take to send a request's body; then 408."
    )
    keep_alive_timeout: float = Field(
        default=5.0, gt=0, description="Seconds an idle keep-alive connection stays open."
    )
    max_connections: int = Field(
        default=1000, ge=1, description="Open connections per process; more are answered 503 and closed."
    )
    shutdown_grace: float = Field(
        default=5.0,
        ge=0,
        description="After SIGTERM: seconds the service still accepts connections while it reports not ready.",
    )
    shutdown_timeout: float = Field(
        default=20.0, gt=0, description="After the grace: most seconds spent finishing the requests in progress."
    )
    log_level: LogLevel = Field(default="INFO", description="Level of the JSON log lines on stderr.")
    access_log: bool = Field(default=True, description="Write one JSON access-log line per request.")
    api_key: SecretStr | None = Field(
        default=None,
        description="When set, /predict requires it in 'X-API-Key' or 'Authorization: Bearer'.",
    )
    admin_api_key: SecretStr | None = Field(
        default=None,
        description=(
            "When set, the model-repository endpoints (/v2/repository/...) require it in 'X-Admin-Key' or"
            " 'Authorization: Bearer'. Keep those endpoints off public networks either way."
        ),
    )
    model_watch_seconds: float = Field(
        default=0.0,
        ge=0.0,
        description="When above 0, check every so many seconds whether MODEL_DIR (latest) moved, and reload if so.",
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Origins allowed by CORS, comma-separated; empty turns CORS off."
    )
    model_signing_key: SecretStr | None = Field(
        default=None,
        description="HMAC key the model's manifest must be signed with (as training was given it); unset: not checked.",
    )
    model_signing_key_previous: SecretStr | None = Field(
        default=None, description="During a key rotation, the old key, still accepted when checking signatures."
    )
    instance_name: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        description="Sent in the X-Instance header of every response; defaults to the host name.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @model_validator(mode="after")
    def _valid_signing_keys(self) -> Settings:
        self.signing_keys  # noqa: B018  (raises ValueError, naming the variable, for a key too short to be safe)
        return self

    @property
    def signing_keys(self) -> SigningKeys:
        """The keys the model's signature is checked with; none: it is not checked."""
        current, previous = (
            None if key is None else key.get_secret_value().encode()
            for key in (self.model_signing_key, self.model_signing_key_previous)
        )
        return SigningKeys(current, previous)

    @field_validator("api_key", "admin_api_key", "model_signing_key", "model_signing_key_previous", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class SettingsError(ValueError):
    """Settings that cannot be used, said per environment variable (the one-line messages of ``lines``)."""

    def __init__(self, error: ValidationError) -> None:
        self.lines = tuple(
            f"{'.'.join(str(part) for part in item['loc']).upper() or 'settings'}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        )
        super().__init__("; ".join(self.lines))


def read_settings(**overrides: Any) -> Settings:
    """Settings from the environment and ``overrides``; raise `SettingsError` (not a traceback) when invalid."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(error) from None


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """Settings from the environment, read once per process (entry points only; tests build their own)."""
    return read_settings()


async def get_settings(request: Request) -> Settings:
    """The settings the running app was created with. Tests may override this dependency."""
    settings: Settings = request.app.state.context.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
