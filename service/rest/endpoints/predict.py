"""POST /predict: one record or a batch, validated strictly, predicted in one vectorised pass."""

from __future__ import annotations

from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from service.protocols.predict import predict_body
from service.rest.body import read_body
from service.rest.context import context_of
from service.rest.dispatch import Endpoint
from service.rest.responses import Reply
from service.rest.schemas import ErrorResponse

INLINE_BODY_BYTES: Final = 64 * 1024
"""Bodies up to this size (about 80 named records) are handled on the event loop: the work takes well under a
millisecond, less than a hop to the thread pool. Larger bodies go to the thread pool so that a big batch
never stalls other requests (health checks included)."""


async def predict(request: Request) -> Reply:
    context = context_of(request)
    dataplane = context.dataplane
    served = dataplane.current()
    body = await read_body(request, context.settings.max_body_bytes, json_only=True)
    if len(body) <= INLINE_BODY_BYTES:
        return Reply(predict_body(dataplane, served, body))
    return Reply(await run_in_threadpool(predict_body, dataplane, served, body))


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


ENDPOINTS = (
    Endpoint(
        "POST",
        "/predict",
        predict,
        protected=True,
        doc={
            "tags": ["prediction"],
            "summary": "Diagnose one record or a batch",
            "description": (
                "Send one record (an object keyed by the feature names, or an array of the feature values in the "
                'order given by /metadata) or a batch `{"instances": [record, ...]}`. One record gets one '
                'prediction object; a batch gets `{"predictions": [...], "model_version": ...}` in request order. '
                "Values must be JSON numbers inside each feature's valid range; unknown, missing or duplicate keys "
                "are refused."
            ),
            "responses": {
                200: {"description": "The prediction(s)."},
                400: _error("The body is not valid JSON or not UTF-8."),
                401: _error("API_KEY is set and the request lacks a valid key."),
                413: _error("The body is over the configured size limit."),
                415: _error("The body is not JSON, or is compressed."),
                422: _error(
                    "The body is JSON but not valid input (or the batch is over the row limit); every problem is "
                    "listed."
                ),
                503: _error("No verified model is loaded."),
            },
        },
    ),
)
