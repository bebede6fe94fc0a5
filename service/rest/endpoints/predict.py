"""POST /predict: one record or a batch, validated strictly, predicted in one vectorised pass."""

from __future__ import annotations

from functools import partial
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from service.errors import ErrorDetail, InvalidInputError
from service.protocols.predict import predict_body
from service.rest.body import handle_body, read_body
from service.rest.context import context_of
from service.rest.dispatch import Endpoint
from service.rest.responses import MODEL_VERSION_HEADER, Reply
from service.rest.schemas import ErrorResponse

EXPLAIN_PARAMETER: Final = "explain"
_FLAGS: Final = {"true": True, "1": True, "false": False, "0": False}


async def predict(request: Request) -> Reply:
    context = context_of(request)
    dataplane = context.dataplane
    served = dataplane.current()
    explain = explain_flag(request.query_params.get(EXPLAIN_PARAMETER)) if request.scope["query_string"] else False
    body = await read_body(request, context.settings.max_body_bytes, json_only=True)
    version = ((MODEL_VERSION_HEADER, served.version),)  # the model taken above answers, even if another is loaded
    if explain:  # some 50 predictions a record: never on the event loop
        answer = await run_in_threadpool(partial(predict_body, explain=True), dataplane, served, body)
    else:
        answer = await handle_body(body, predict_body, dataplane, served, body)
    return Reply(answer, headers=version)


def explain_flag(value: str | None) -> bool:
    """The ``explain`` query parameter: absent, ``false`` or ``0`` (no explanation), ``true`` or ``1``."""
    if value is None:
        return False
    try:
        return _FLAGS[value.strip().lower()]
    except KeyError:
        detail = ErrorDetail(("query", EXPLAIN_PARAMETER), "must be true or false", "bool_parsing")
        raise InvalidInputError(f"the {EXPLAIN_PARAMETER} parameter must be true or false", [detail]) from None


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
                "are refused. Every prediction carries `out_of_distribution`: a score from the training data's "
                "statistics (`flagged` above 1, the `feature` least consistent with the others); a flagged record is "
                "still predicted, but was unlike anything the model was trained on. With `?explain=true` each "
                "prediction also carries an `explanation`: integrated-gradient attributions of the positive class's "
                "probability to every feature, against the training mean, the largest first (under 1 ms per record; "
                "requests without it pay nothing)."
            ),
            "openapi_extra": {
                "parameters": [
                    {
                        "name": EXPLAIN_PARAMETER,
                        "in": "query",
                        "required": False,
                        "schema": {"type": "boolean", "default": False},
                        "description": "Add an explanation to every prediction (true or false).",
                    }
                ]
            },
            "responses": {
                200: {"description": "The prediction(s)."},
                400: _error("The body is not valid JSON or not UTF-8."),
                401: _error("API_KEY is set and the request lacks a valid key."),
                413: _error("The body is over the configured size limit."),
                415: _error("The body is not JSON, or is compressed."),
                422: _error(
                    "The body is JSON but not valid input (or the batch is over the row limit, or `explain` is not "
                    "true or false); every problem is listed."
                ),
                503: _error("No verified model is loaded."),
            },
        },
    ),
)
