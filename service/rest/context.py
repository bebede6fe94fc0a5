"""What one app instance owns (settings, metrics, data plane), and the request dependencies that hand it out.

The hot endpoints read the context with the plain function :func:`context_of` (no dependency-resolution
cost); the other routes use the typed dependency aliases. All are ``async``: cheap, no thread hop.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection

from service.dataplane import DataPlane, ServedModel
from service.errors import UnauthorizedError
from service.lifecycle import Lifecycle
from service.metrics import Metrics
from service.settings import Settings, SettingsDep


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    metrics: Metrics
    dataplane: DataPlane
    lifecycle: Lifecycle
    version: str
    """The service's version (of the installed package)."""


def context_of(connection: HTTPConnection) -> AppContext:
    """The context of the app serving ``connection``."""
    context: AppContext = connection.app.state.context
    return context


async def get_dataplane(request: Request) -> DataPlane:
    return context_of(request).dataplane


DataPlaneDep = Annotated[DataPlane, Depends(get_dataplane)]


async def get_served_model(dataplane: DataPlaneDep) -> ServedModel:
    """The model to answer with; ``ModelNotReadyError`` (503) while there is none."""
    return dataplane.current()


ServedModelDep = Annotated[ServedModel, Depends(get_served_model)]


async def get_metrics(request: Request) -> Metrics:
    return context_of(request).metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def check_api_key(settings: Settings, headers: Headers) -> None:
    """When ``API_KEY`` is set, the request must carry it (``X-API-Key`` or ``Authorization: Bearer``)."""
    _check_key(settings.api_key, headers, "x-api-key", "API key")


def check_admin_key(settings: Settings, headers: Headers) -> None:
    """When ``ADMIN_API_KEY`` is set, the request must carry it (``X-Admin-Key`` or ``Authorization: Bearer``)."""
    _check_key(settings.admin_api_key, headers, "x-admin-key", "admin API key")


def _check_key(key: SecretStr | None, headers: Headers, header: str, what: str) -> None:
    if key is None:
        return
    supplied = headers.get(header)
    if supplied is None:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        supplied = credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None
    if supplied is None or not hmac.compare_digest(supplied.encode(), key.get_secret_value().encode()):
        name = "-".join(part.capitalize() for part in header.split("-")).replace("Api", "API")
        raise UnauthorizedError(
            f"a valid {what} is required: send it in the '{name}' header or as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key.")
_bearer = HTTPBearer(auto_error=False, description="The API key as a bearer token.")


async def require_api_key(
    request: Request,
    settings: SettingsDep,
    _api_key: Annotated[str | None, Security(_api_key_header)],
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """The dependency form of :func:`check_api_key`; its parameters put both schemes in the OpenAPI document."""
    check_api_key(settings, request.headers)
