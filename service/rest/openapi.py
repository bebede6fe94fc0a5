"""The OpenAPI document, completed with the request and response schemas of the model being served.

The bodies are read raw (for speed and strictness), so FastAPI cannot derive their schemas: the record forms
of /predict and KServe V1 are built from the manifest, with examples the served model answers, and rebuilt
when the model changes; the Open Inference Protocol's request is the specification's.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from service.dataplane import DataPlane, ServedModel
from service.protocols.examples import request_examples
from service.protocols.predict import predict_body, record_codec
from service.rest.schemas import InferenceRequest

PREDICT_PATH = "/predict"
V1_PREDICT_PATH = "/v1/models/{model_name}:predict"
V1_EXPLAIN_PATH = "/v1/models/{model_name}:explain"
_BATCH_FORMS = ("NamedBatch", "DatasetBatch", "ArrayBatch")

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
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    request_schema = TypeAdapter(InferenceRequest).json_schema(ref_template="#/components/schemas/{model}")
    components.update(request_schema.pop("$defs", {}))
    components["InferenceRequest"] = request_schema
    if served is not None:
        _complete_v1(schema.get("paths", {}))
    operation = schema.get("paths", {}).get(PREDICT_PATH, {}).get("post")
    if operation is None:
        return schema
    body: dict[str, Any] = {"required": True, "content": {"application/json": {"schema": _NO_MODEL_SCHEMA}}}
    if served is not None:
        records, response_schema, record_components = served.derived(record_codec).schemas.openapi_components()
        request_examples, response_examples = _predict_examples(dataplane, served)
        components.update(record_components)
        body["content"]["application/json"] = {"schema": records, "examples": request_examples}
        operation["responses"]["200"]["content"] = {
            "application/json": {"schema": response_schema, "examples": response_examples}
        }
    operation["requestBody"] = body
    return schema


def _complete_v1(paths: dict[str, Any]) -> None:
    """KServe V1's request and answer schemas: /predict's batch forms and batch answer, with the explanations
    beside the predictions for ``:explain``."""
    batch = {"anyOf": [{"$ref": f"#/components/schemas/{key}"} for key in _BATCH_FORMS]}
    predictions = {"$ref": "#/components/schemas/PredictionBatch"}
    explanations = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Explanation"},
        "description": "One per record, in request order.",
    }
    beside = {"type": "object", "properties": {"explanations": explanations}, "required": ["explanations"]}
    explained = {"allOf": [predictions, beside]}
    for path, answer in ((V1_PREDICT_PATH, predictions), (V1_EXPLAIN_PATH, explained)):
        operation = paths.get(path, {}).get("post")
        if operation is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": batch}}}
            operation["responses"]["200"]["content"] = {"application/json": {"schema": answer}}


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
