"""Exception handlers: every error, ours or the framework's, becomes ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from service.errors import ErrorDetail, ServiceError, safe_text
from service.responses import JSONBytesResponse, dump_json

logger = logging.getLogger("service.errors")

_HTTP_CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    500: "internal_error",
    503: "service_unavailable",
}


def error_body(code: str, message: str, details: Sequence[ErrorDetail] = ()) -> bytes:
    return dump_json(
        {"error": {"code": code, "message": safe_text(message, 1000), "details": [d.as_dict() for d in details]}}
    )


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Sequence[ErrorDetail] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONBytesResponse:
    return JSONBytesResponse(error_body(code, message, details), status_code=status_code, headers=headers)


INTERNAL_ERROR_BODY = error_body("internal_error", "internal server error")


async def _service_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    if exc.status_code >= 500 and exc.status_code != 503:  # our fault, not the client's: keep the traceback
        logger.error("%s: %s", exc.code, exc.message, exc_info=exc)
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _http_exception(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404:
        message = "no such endpoint; see /docs for the API"
    elif exc.status_code == 405:
        message = "method not allowed on this endpoint; see the Allow header"
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _request_validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        ErrorDetail(
            loc=tuple(part if isinstance(part, int) else str(part) for part in error.get("loc", ())),
            msg=str(error.get("msg", "invalid")),
            type=str(error.get("type", "value_error")),
        )
        for error in exc.errors()
    ]
    return error_response(422, "invalid_input", "the request is invalid", details)


async def _unhandled(_: Request, exc: Exception) -> Response:
    logger.error("unhandled error: %r", exc, exc_info=exc)
    return JSONBytesResponse(INTERNAL_ERROR_BODY, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(Exception, _unhandled)
