"""GET /health (liveness) and GET /ready (readiness): different questions, different answers."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from service.dependencies import ModelSlotDep
from service.responses import JSONBytesResponse
from service.schemas import ErrorResponse, HealthResponse, ReadyResponse

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Liveness: 200 while the process serves",
    response_model=HealthResponse,
    response_class=JSONBytesResponse,
)
async def health(slot: ModelSlotDep) -> Response:
    served = slot.served
    return JSONBytesResponse(
        {"status": "ok", "model_loaded": served is not None, "model_version": served.version if served else None}
    )


@router.get(
    "/ready",
    summary="Readiness: 200 only with a verified model loaded",
    response_model=ReadyResponse,
    response_class=JSONBytesResponse,
    responses={503: {"model": ErrorResponse, "description": "No verified model is loaded; the reason is given."}},
)
async def ready(slot: ModelSlotDep) -> Response:
    served = slot.require()
    return JSONBytesResponse({"status": "ready", "model_version": served.version})
