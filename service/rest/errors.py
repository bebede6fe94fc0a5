"""Errors to responses, in the shape each protocol's clients read.

The service's own endpoints answer ``{"error": {"code", "message", "details"}}``. Paths of the Open
Inference Protocol (``/v2``) and of KServe V1 (``/v1``) answer ``{"error": "<message>"}`` as their
specifications say (Triton's and KServe's clients read that string), with 400 where the service's own
endpoints say 422. Every error, ours or the framework's, goes through :func:`error_reply`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from service.errors import ErrorDetail, ServiceError, safe_text
from service.rest.responses import Reply, dump_json

logger = logging.getLogger("service.errors")

PROTOCOL_PREFIXES: Final = ("/v2", "/v1/")
"""Paths whose errors take the protocols' string shape."""
_PROTOCOL_DETAILS: Final = 10
"""Problems spelled out in a protocol error string (all of them are in the service's own shape)."""

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


def is_protocol_path(path: str) -> bool:
    return path.startswith(PROTOCOL_PREFIXES) or path == "/v2"


def error_body(code: str, message: str, details: Sequence[ErrorDetail] = ()) -> bytes:
    return dump_json(
        {"error": {"code": code, "message": safe_text(message, 1000), "details": [d.as_dict() for d in details]}}
    )


def protocol_message(message: str, details: Sequence[ErrorDetail]) -> str:
    """One string with the problems in it: ``invalid input: 1 problem: inputs.0.shape: ...``."""
    parts = [f"{'.'.join(str(part) for part in d.loc) or 'body'}: {d.msg}" for d in details[:_PROTOCOL_DETAILS]]
    if len(details) > _PROTOCOL_DETAILS:
        parts.append(f"and {len(details) - _PROTOCOL_DETAILS} more")
    if not parts or (len(details) == 1 and details[0].msg in message):
        return safe_text(message, 1000)
    return safe_text(f"{message}: {'; '.join(parts)}", 2000)


def error_reply(
    path: str,
    status: int,
    code: str,
    message: str,
    *,
    details: Sequence[ErrorDetail] = (),
    headers: Mapping[str, str] | None = None,
) -> Reply:
    extra = tuple((headers or {}).items())
    if is_protocol_path(path):
        status = 400 if status == 422 else status
        return Reply(dump_json({"error": protocol_message(message, details)}), status, headers=extra)
    return Reply(error_body(code, message, details), status, headers=extra)


def service_error_reply(path: str, error: ServiceError) -> Reply:
    if error.status_code >= 500 and error.status_code != 503:  # our fault, not the client's: keep the traceback
        logger.error("%s: %s", error.code, error.message, exc_info=error)
    return error_reply(path, error.status_code, error.code, error.message, details=error.details, headers=error.headers)


INTERNAL_ERROR_BODY = error_body("internal_error", "internal server error")
PROTOCOL_INTERNAL_ERROR_BODY = dump_json({"error": "internal server error"})


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return service_error_reply(request.url.path, exc).response()


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404:
        redirect = _without_trailing_slash(request)
        if redirect is not None:
            return redirect
        message = "no such endpoint; see /docs for the API"
    elif exc.status_code == 405:
        message = "method not allowed on this endpoint; see the Allow header"
    return error_reply(request.url.path, exc.status_code, code, message, headers=exc.headers).response()


def _without_trailing_slash(request: Request) -> Response | None:
    """307 to the path without its trailing slash when that is an endpoint, as Starlette's router would redirect,
    but with a relative ``Location``: Starlette builds an absolute one from the client's ``Host`` header (the app
    turns that redirect off)."""
    path = request.url.path
    if not path.endswith("/") or path == "/":
        return None
    scope = {**request.scope, "path": path.rstrip("/")}
    if not any(route.matches(scope)[0] != Match.NONE for route in request.app.router.routes):
        return None
    query = request.url.query
    location = scope["path"] + (f"?{query}" if query else "")
    return Response(status_code=307, headers={"location": location})


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        ErrorDetail(
            loc=tuple(part if isinstance(part, int) else str(part) for part in error.get("loc", ())),
            msg=str(error.get("msg", "invalid")),
            type=str(error.get("type", "value_error")),
        )
        for error in exc.errors()
    ]
    return error_reply(request.url.path, 422, "invalid_input", "the request is invalid", details=details).response()


async def _unhandled(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error: %r", exc, exc_info=exc)
    body = PROTOCOL_INTERNAL_ERROR_BODY if is_protocol_path(request.url.path) else INTERNAL_ERROR_BODY
    return Reply(body, 500).response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(Exception, _unhandled)
