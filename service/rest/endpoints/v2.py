"""The Open Inference Protocol (V2) over HTTP: health, server and model metadata, model readiness, inference.

Paths with and without ``/versions/{model_version}``; errors are ``{"error": "<message>"}``
(``service.rest.errors``). A body is binary when it carries ``Inference-Header-Content-Length``, whatever
its Content-Type: Triton's client sends none, KServe's sends ``application/octet-stream``.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import Request

from service.protocols.v2 import HEADER_LENGTH, infer_body, v2_codec
from service.rest.body import handle_body, read_body
from service.rest.context import context_of
from service.rest.dispatch import Endpoint
from service.rest.responses import Reply, dump_json
from service.rest.schemas import (
    InferenceResponse,
    ModelMetadata,
    ModelReady,
    ProtocolError,
    ServerLive,
    ServerMetadata,
    ServerReady,
)

SERVER_NAME: Final = "wdbc-diagnosis"
EXTENSIONS: Final = ["binary_tensor_data"]
_BINARY: Final = "application/octet-stream"
_LIVE: Final = dump_json({"live": True})
_READY: Final = dump_json({"ready": True})


async def server_live(request: Request) -> Reply:
    return Reply(_LIVE)


async def server_ready(request: Request) -> Reply:
    context_of(request).dataplane.current()
    return Reply(_READY)


async def server_metadata(request: Request) -> Reply:
    version = context_of(request).version
    return Reply(dump_json({"name": SERVER_NAME, "version": version, "extensions": EXTENSIONS}))


async def model_metadata(request: Request) -> Reply:
    params = request.path_params
    served = context_of(request).dataplane.model(params["model_name"], params.get("model_version"))
    return Reply(served.derived(v2_codec).metadata)


async def model_ready(request: Request) -> Reply:
    params = request.path_params
    served = context_of(request).dataplane.model(params["model_name"], params.get("model_version"))
    return Reply(dump_json({"name": served.name, "ready": True}))


async def infer(request: Request) -> Reply:
    context = context_of(request)
    dataplane = context.dataplane
    params = request.path_params
    served = dataplane.model(params["model_name"], params.get("model_version"))
    body = await read_body(request, context.settings.max_body_bytes, json_only=False)
    header_length = request.headers.get(HEADER_LENGTH)
    encoded = await handle_body(body, infer_body, dataplane, served, body, header_length)
    if encoded.header_length is None:
        return Reply(encoded.body)
    return Reply(encoded.body, media_type=_BINARY, headers=((HEADER_LENGTH, str(encoded.header_length)),))


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "Invalid request: the message says what is wrong.",
        401: "API_KEY is set and the request lacks a valid key.",
        404: "Unknown model or version.",
        413: "The body is over the configured size limit.",
        415: "The body is compressed.",
        503: "No verified model is loaded.",
    }
    return {status: {"model": ProtocolError, "description": meaning[status]} for status in statuses}


_TAGS: Final = ["Open Inference Protocol (V2)"]
_INFER_BODY: Final = {
    "requestBody": {
        "required": True,
        "description": (
            "JSON, or JSON followed by binary tensor data: then the Inference-Header-Content-Length header gives "
            "the JSON's length and each binary input its binary_data_size."
        ),
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}},
            _BINARY: {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "parameters": [
        {
            "name": "Inference-Header-Content-Length",
            "in": "header",
            "required": False,
            "schema": {"type": "integer", "minimum": 0},
            "description": "Length of the JSON part when binary tensor data follows it.",
        }
    ],
}


def _infer(path: str) -> Endpoint:
    return Endpoint(
        "POST",
        path,
        infer,
        protected=True,
        doc={
            "tags": _TAGS,
            "summary": "Inference: class probabilities and labels of the rows of the 'features' tensor",
            "description": (
                "Outputs `probabilities` (FP64 `[n, n_classes]`, columns in the order of the output metadata's "
                "`parameters.columns`) and `label` (BYTES `[n]`), then, for a model with training statistics, "
                "`out_of_distribution_score` (FP64 `[n]`) and `out_of_distribution_flagged` (BOOL `[n]`, the score "
                "above 1): all of them unless the request names `outputs`."
            ),
            "response_model": InferenceResponse,
            "responses": {
                200: {
                    "description": "The outputs; binary ones after the JSON, whose length is then in the header.",
                    "content": {_BINARY: {"schema": {"type": "string", "format": "binary"}}},
                    "headers": {"Inference-Header-Content-Length": {"schema": {"type": "integer"}}},
                },
                **_errors(400, 401, 404, 413, 415, 503),
            },
            "openapi_extra": _INFER_BODY,
        },
    )


ENDPOINTS = (
    Endpoint(
        "GET",
        "/v2/health/live",
        server_live,
        doc={"tags": _TAGS, "summary": "Server live", "response_model": ServerLive},
    ),
    Endpoint(
        "GET",
        "/v2/health/ready",
        server_ready,
        doc={"tags": _TAGS, "summary": "Server ready", "response_model": ServerReady, "responses": _errors(503)},
    ),
    Endpoint(
        "GET",
        "/v2",
        server_metadata,
        doc={"tags": _TAGS, "summary": "Server metadata", "response_model": ServerMetadata},
    ),
    *(
        Endpoint(
            "GET",
            path,
            model_metadata,
            doc={
                "tags": _TAGS,
                "summary": "Model metadata: inputs, outputs, versions",
                "response_model": ModelMetadata,
                "responses": _errors(404, 503),
            },
        )
        for path in ("/v2/models/{model_name}", "/v2/models/{model_name}/versions/{model_version}")
    ),
    *(
        Endpoint(
            "GET",
            path,
            model_ready,
            doc={"tags": _TAGS, "summary": "Model ready", "response_model": ModelReady, "responses": _errors(404, 503)},
        )
        for path in ("/v2/models/{model_name}/ready", "/v2/models/{model_name}/versions/{model_version}/ready")
    ),
    _infer("/v2/models/{model_name}/infer"),
    _infer("/v2/models/{model_name}/versions/{model_version}/infer"),
)
