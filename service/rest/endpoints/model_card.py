"""GET /model-card and /model-card.md: the model card written with the served model, as JSON or markdown."""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter
from starlette.responses import Response

from neuralnet.artifacts import MODEL_CARD_JSON_FILE, MODEL_CARD_MARKDOWN_FILE
from service.dataplane import ServedModel
from service.errors import ServiceError
from service.rest.context import ServedModelDep
from service.rest.responses import JSONBytesResponse
from service.rest.schemas import ErrorResponse

MODEL_CARD_PATH: Final = "/model-card"

router = APIRouter(tags=["model"])

_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    404: {"model": ErrorResponse, "description": "The served model was written without a model card."},
    503: {"model": ErrorResponse, "description": "No verified model is loaded."},
}


class NoModelCardError(ServiceError):
    status_code = 404
    code = "no_model_card"


def _card(served: ServedModel, name: str) -> bytes:
    try:
        return served.runtime.model_card[name]
    except KeyError:
        raise NoModelCardError(f"the model {served.version} was written without {name}") from None


@router.get(
    MODEL_CARD_PATH,
    summary="Model card: intended use, data, metrics with intervals, threshold, calibration, limits (JSON)",
    response_class=JSONBytesResponse,
    responses={200: {"content": {"application/json": {}}}, **_ERRORS},
)
async def model_card(served: ServedModelDep) -> Response:
    return JSONBytesResponse(_card(served, MODEL_CARD_JSON_FILE))


@router.get(
    MODEL_CARD_PATH + ".md",
    summary="The same model card, as markdown for people",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}}, **_ERRORS},
)
async def model_card_markdown(served: ServedModelDep) -> Response:
    return Response(_card(served, MODEL_CARD_MARKDOWN_FILE), media_type="text/markdown; charset=utf-8")
