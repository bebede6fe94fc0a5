"""The Open Inference Protocol's model-repository extension: list the versions, load one, unload.

Admin operations: with ``ADMIN_API_KEY`` set they need it (``X-Admin-Key`` or ``Authorization: Bearer``), and
they must never be reachable from a public network (route only the inference paths to the service). For that
reason they are left out of the public OpenAPI document; service/README.md documents them.

``GET`` (or ``POST``) ``/v2/repository/index`` lists every version directory of the models root with its state
(``READY`` for the one served, else ``UNAVAILABLE`` and why). ``POST /v2/repository/models/{name}/load`` loads
what ``latest`` points at, or the version named by ``{"parameters": {"version": "..."}}``: verified and warmed,
then swapped in; a version that fails answers 409 with the reason and the old one keeps serving.
``POST .../unload`` stops serving (readiness turns 503) until the next load.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from service.dataplane import DataPlane
from service.errors import (
    ErrorDetail,
    InvalidInputError,
    MalformedBodyError,
    ModelLoadFailedError,
    ModelNotFoundError,
)
from service.registry import ModelRegistry
from service.rest.body import read_body
from service.rest.context import DataPlaneDep, check_admin_key, context_of
from service.rest.responses import JSONBytesResponse, dump_json
from service.rest.schemas import ErrorResponse

_LOAD_BODY_BYTES = 4096


async def require_admin_key(request: Request) -> None:
    """When ``ADMIN_API_KEY`` is set, the request must carry it."""
    check_admin_key(context_of(request).settings, request.headers)


router = APIRouter(
    prefix="/v2/repository",
    tags=["model repository (admin)"],
    dependencies=[Depends(require_admin_key)],
    include_in_schema=False,
)


class VersionEntryModel(BaseModel):
    name: str
    version: str = Field(description="The version directory's name: what load's 'version' parameter takes.")
    state: str = Field(description="READY (served) or UNAVAILABLE.")
    reason: str = Field(description="Why the version is not served (a failed load's reason, or 'not loaded').")
    latest: bool = Field(description="Whether the models root's 'latest' points at it.")
    warnings: list[str] = Field(description="Library version differences between its trainer and this service.")


class LoadParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(default=None, description="Version directory to load; default: what latest names.")


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: LoadParameters = Field(default_factory=LoadParameters)


class LoadResponse(BaseModel):
    name: str
    version: str
    state: str
    result: str = Field(description="'loaded', or 'unchanged' when that version was already served.")


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "ADMIN_API_KEY is set and the request lacks it."},
    404: {"model": ErrorResponse, "description": "No such model name or version."},
}


def _index(registry: ModelRegistry[Any]) -> bytes:
    return dump_json(
        [
            {
                "name": registry.model_name,
                "version": entry.version,
                "state": entry.state,
                "reason": entry.reason,
                "latest": entry.latest,
                "warnings": list(entry.warnings),
            }
            for entry in registry.index()
        ]
    )


@router.get(
    "/index",
    summary="Every model version in the repository, with its state",
    response_model=list[VersionEntryModel],
    responses=_ERRORS,
)
async def index(dataplane: DataPlaneDep) -> Response:
    return JSONBytesResponse(_index(dataplane.registry))


@router.post(
    "/index",
    summary="The same, as the Open Inference Protocol's POST form",
    response_model=list[VersionEntryModel],
    responses=_ERRORS,
)
async def index_post(dataplane: DataPlaneDep) -> Response:
    return JSONBytesResponse(_index(dataplane.registry))


def _registry_named(dataplane: DataPlane, name: str) -> ModelRegistry[Any]:
    registry = dataplane.registry
    if name != registry.model_name:
        raise ModelNotFoundError(
            f"this service serves the model {registry.model_name!r}, not {name!r}",
            [ErrorDetail(("name",), "unknown model", "not_found")],
        )
    return registry


async def _load_request(request: Request) -> LoadRequest:
    body = await read_body(request, _LOAD_BODY_BYTES, json_only=True)
    if not body.strip():
        return LoadRequest()
    try:
        return LoadRequest.model_validate(orjson.loads(body))
    except orjson.JSONDecodeError as error:
        raise MalformedBodyError(f"the body is not valid JSON: {error.msg}") from None
    except ValidationError as error:
        details = [
            ErrorDetail(tuple(str(part) for part in problem["loc"]), problem["msg"], problem["type"])
            for problem in error.errors()
        ]
        raise InvalidInputError('the body must be {} or {"parameters": {"version": ...}}', details) from None


@router.post(
    "/models/{name}/load",
    summary="Load latest, or a named version: verified and warmed, then swapped in atomically",
    response_model=LoadResponse,
    responses={**_ERRORS, 409: {"model": ErrorResponse, "description": "The version failed; the old one serves."}},
)
async def load(name: str, request: Request, dataplane: DataPlaneDep) -> Response:
    registry = _registry_named(dataplane, name)
    parameters = (await _load_request(request)).parameters
    outcome = await run_in_threadpool(registry.load, parameters.version)
    if not outcome.ok:
        assert outcome.reason is not None
        still = f"; {outcome.version} is still served" if outcome.version else ""
        raise ModelLoadFailedError(f"the version was refused ({outcome.reason.type}){still}", [outcome.reason])
    assert outcome.version is not None
    return JSONBytesResponse(
        {"name": registry.model_name, "version": outcome.version, "state": "READY", "result": outcome.result}
    )


@router.post(
    "/models/{name}/unload", summary="Stop serving until the next load (readiness turns 503)", responses=_ERRORS
)
async def unload(name: str, dataplane: DataPlaneDep) -> Response:
    registry = _registry_named(dataplane, name)
    registry.unload()
    return JSONBytesResponse({"name": registry.model_name, "state": "UNAVAILABLE"})
