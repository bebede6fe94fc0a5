"""GET /health (liveness) and GET /ready (readiness): different questions, different answers."""

from __future__ import annotations

from starlette.requests import Request

from service.errors import ShuttingDownError
from service.rest.context import context_of
from service.rest.dispatch import Endpoint
from service.rest.responses import Reply, dump_json
from service.rest.schemas import ErrorResponse, HealthResponse, ReadyResponse


async def health(request: Request) -> Reply:
    served = context_of(request).dataplane.served
    return Reply(
        dump_json(
            {"status": "ok", "model_loaded": served is not None, "model_version": served.version if served else None}
        )
    )


async def ready(request: Request) -> Reply:
    context = context_of(request)
    if context.lifecycle.draining:
        raise ShuttingDownError("the server is shutting down; send requests to another instance")
    served = context.dataplane.current()
    return Reply(dump_json({"status": "ready", "model_version": served.version}))


ENDPOINTS = (
    Endpoint(
        "GET",
        "/health",
        health,
        doc={"tags": ["health"], "summary": "Liveness: 200 while the process serves", "response_model": HealthResponse},
    ),
    Endpoint(
        "GET",
        "/ready",
        ready,
        doc={
            "tags": ["health"],
            "summary": "Readiness: 200 only with a verified model loaded",
            "response_model": ReadyResponse,
            "responses": {
                503: {
                    "model": ErrorResponse,
                    "description": "No verified model is loaded (the reason is given), or the server is shutting down.",
                }
            },
        },
    ),
)
