"""Request dependencies as typed aliases. All are ``async``: they are cheap and must not cost a thread hop."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.context import context_of
from service.errors import UnauthorizedError
from service.metrics import Metrics
from service.serving import ModelSlot, ServedModel
from service.settings import SettingsDep

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key.")
_bearer = HTTPBearer(auto_error=False, description="The API key as a bearer token.")


async def get_model_slot(request: Request) -> ModelSlot:
    return context_of(request).models


ModelSlotDep = Annotated[ModelSlot, Depends(get_model_slot)]


async def get_served_model(slot: ModelSlotDep) -> ServedModel:
    """The model to answer with; ``ModelNotReadyError`` (503) while there is none."""
    return slot.require()


ServedModelDep = Annotated[ServedModel, Depends(get_served_model)]


async def get_metrics(request: Request) -> Metrics:
    return context_of(request).metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


async def require_api_key(
    settings: SettingsDep,
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """When ``API_KEY`` is set, the request must carry it (``X-API-Key`` or ``Authorization: Bearer``)."""
    if settings.api_key is None:
        return
    supplied = api_key if api_key is not None else (bearer.credentials if bearer is not None else None)
    expected = settings.api_key.get_secret_value().encode()
    if supplied is None or not hmac.compare_digest(supplied.encode(), expected):
        raise UnauthorizedError(
            "a valid API key is required: send it in the 'X-API-Key' header or as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
