"""The OpenAPI document, completed with the request and response schemas of the model being served.

The /predict body is read raw (for speed and strictness), so FastAPI cannot derive its schema; it is built
from the manifest instead, with examples the served model answers, and rebuilt when the model changes.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.dataplane import DataPlane, ServedModel
from service.protocols.examples import request_examples
from service.protocols.predict import predict_body, record_codec

PREDICT_PATH = "/predict"

_NO_MODEL_SCHEMA: dict[str, Any] = {
    "description": "No model is loaded, so the feature list is unknown; see /ready.",
    "anyOf": [{"type": "object"}, {"type": "array", "items": {"type": "number"}}],
}


def install_openapi(app: FastAPI, dataplane: DataPlane) -> None:
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        served = dataplane.served
        if cache.get("for") is not served or "schema" not in cache:
            cache["schema"] = _build(app, dataplane, served)
            cache["for"] = served
        schema: dict[str, Any] = cache["schema"]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _build(app: FastAPI, dataplane: DataPlane, served: ServedModel | None) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    operation = schema.get("paths", {}).get(PREDICT_PATH, {}).get("post")
    if operation is None:
        return schema
    body: dict[str, Any] = {"required": True, "content": {"application/json": {"schema": _NO_MODEL_SCHEMA}}}
    if served is not None:
        request_schema, response_schema, components = served.derived(record_codec).schemas.openapi_components()
        request_examples, response_examples = _predict_examples(dataplane, served)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
        body["content"]["application/json"] = {"schema": request_schema, "examples": request_examples}
        operation["responses"]["200"]["content"] = {
            "application/json": {"schema": response_schema, "examples": response_examples}
        }
    operation["requestBody"] = body
    return schema


def _predict_examples(dataplane: DataPlane, served: ServedModel) -> tuple[dict[str, Any], dict[str, Any]]:
    """Request examples and the responses this very model gives to them."""
    requests = request_examples(served.runtime.manifest)
    responses = {
        key: {
            "summary": example["summary"],
            "value": orjson.loads(predict_body(dataplane, served, orjson.dumps(example["value"]))),
        }
        for key, example in requests.items()
    }
    named = requests["named"]
    responses["named_explained"] = {
        "summary": named["summary"] + ", with ?explain=true",
        "value": orjson.loads(predict_body(dataplane, served, orjson.dumps(named["value"]), explain=True)),
    }
    return requests, responses
