"""GET /metadata: what the served model is, expects and was measured to do."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from service.dependencies import ServedModelDep
from service.responses import JSONBytesResponse
from service.schemas import ErrorResponse, MetadataResponse

router = APIRouter(tags=["model"])


@router.get(
    "/metadata",
    summary="Model version, features with valid ranges, classes, threshold, metrics, artifact hashes",
    response_model=MetadataResponse,
    response_class=JSONBytesResponse,
    responses={503: {"model": ErrorResponse, "description": "No verified model is loaded."}},
)
async def metadata(served: ServedModelDep) -> Response:
    return JSONBytesResponse(served.metadata)
