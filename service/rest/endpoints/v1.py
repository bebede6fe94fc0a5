"""KServe V1 over HTTP: server liveness at /, the model list and status, ``:predict`` and ``:explain``."""

from __future__ import annotations

from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from service.protocols.v1 import explain_body, predict_body
from service.rest.body import handle_body, read_body
from service.rest.context import context_of
from service.rest.dispatch import Endpoint
from service.rest.responses import Reply, dump_json
from service.rest.schemas import ProtocolError, V1Live, V1Model, V1Models

_ALIVE: Final = dump_json({"status": "alive"})
_TAGS: Final = ["KServe V1"]


async def live(request: Request) -> Reply:
    return Reply(_ALIVE)


async def models(request: Request) -> Reply:
    return Reply(dump_json({"models": [context_of(request).dataplane.model_name]}))


async def model(request: Request) -> Reply:
    served = context_of(request).dataplane.model(request.path_params["model_name"])
    return Reply(dump_json({"name": served.name, "ready": True}))


async def predict(request: Request) -> Reply:
    context = context_of(request)
    dataplane = context.dataplane
    served = dataplane.model(request.path_params["model_name"])
    body = await read_body(request, context.settings.max_body_bytes, json_only=True)
    return Reply(await handle_body(body, predict_body, dataplane, served, body))


async def explain(request: Request) -> Reply:
    context = context_of(request)
    dataplane = context.dataplane
    served = dataplane.model(request.path_params["model_name"])
    body = await read_body(request, context.settings.max_body_bytes, json_only=True)
    return Reply(await run_in_threadpool(explain_body, dataplane, served, body))  # some 50 predictions' work


def _error(description: str) -> dict[str, object]:
    return {"model": ProtocolError, "description": description}


ENDPOINTS = (  # :predict before the model's status: "wdbc:predict" would also match {model_name}
    Endpoint("GET", "/", live, doc={"tags": _TAGS, "summary": "Server live", "response_model": V1Live}),
    Endpoint("GET", "/v1/models", models, doc={"tags": _TAGS, "summary": "Models served", "response_model": V1Models}),
    Endpoint(
        "POST",
        "/v1/models/{model_name}:predict",
        predict,
        protected=True,
        doc={
            "tags": _TAGS,
            "summary": "Predict a batch of records",
            "description": (
                '`{"instances": [record, ...]}`, each record as in /predict; the answer is /predict\'s batch answer, '
                '`{"predictions": [...], "model_version": ...}`.'
            ),
            "responses": {
                200: {"description": "One prediction per record, in request order."},
                400: _error("Invalid request: the message says what is wrong."),
                401: _error("API_KEY is set and the request lacks a valid key."),
                404: _error("Unknown model."),
                413: _error("The body is over the configured size limit."),
                415: _error("The body is not JSON, or is compressed."),
                503: _error("No verified model is loaded."),
            },
        },
    ),
    Endpoint(
        "POST",
        "/v1/models/{model_name}:explain",
        explain,
        protected=True,
        doc={
            "tags": _TAGS,
            "summary": "Predict and explain a batch of records",
            "description": (
                'As `:predict`, and the answer also holds `"explanations"`: one per record, in request order, as '
                "`/predict?explain=true` gives them (integrated-gradient attributions of the positive class's "
                "probability to every feature, against the training mean, the largest first)."
            ),
            "responses": {
                200: {"description": "One prediction and one explanation per record, in request order."},
                400: _error("Invalid request: the message says what is wrong."),
                401: _error("API_KEY is set and the request lacks a valid key."),
                404: _error("Unknown model."),
                413: _error("The body is over the configured size limit."),
                415: _error("The body is not JSON, or is compressed."),
                503: _error("No verified model is loaded."),
            },
        },
    ),
    Endpoint(
        "GET",
        "/v1/models/{model_name}",
        model,
        doc={
            "tags": _TAGS,
            "summary": "Model status",
            "response_model": V1Model,
            "responses": {404: _error("Unknown model."), 503: _error("No verified model is loaded.")},
        },
    ),
)
