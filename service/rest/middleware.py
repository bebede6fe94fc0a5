"""Pure ASGI middleware: request id, instance header, metrics and the access log, for every HTTP request.

It also turns an exception that escaped everything else into the JSON 500 (with the same headers), so that
no client ever sees a traceback or a plain-text error.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Final

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.logging_config import ACCESS_LOGGER, log_fields
from service.metrics import UNMATCHED_ROUTE, Metrics
from service.rest.errors import INTERNAL_ERROR_BODY, PROTOCOL_INTERNAL_ERROR_BODY, is_protocol_path

REQUEST_ID_HEADER: Final = "x-request-id"
INSTANCE_HEADER: Final = "x-instance"
CLIENT_CLOSED_REQUEST: Final = 499
"""Status recorded (never sent) when the client disconnects before its request was read, as nginx does."""
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}")
"""A client's request id is echoed only if it is short and cannot smuggle anything into headers or logs."""

access_logger = logging.getLogger(ACCESS_LOGGER)
error_logger = logging.getLogger("service.errors")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        instance_name: str,
        metrics: Metrics,
        access_log: bool = True,
        plain_routes: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.plain_routes = plain_routes
        self.instance = instance_name.encode("latin-1", "replace")
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        extra_headers = [(REQUEST_ID_HEADER.encode(), request_id.encode()), (INSTANCE_HEADER.encode(), self.instance)]
        status = 500
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except ClientDisconnect:
            status = CLIENT_CLOSED_REQUEST  # gone before the body arrived: nobody to answer
        except Exception as error:
            error_logger.error(
                "unhandled error: %r", error, exc_info=error, extra={"request_id": request_id, "event": "unhandled"}
            )
            if not started:
                body = PROTOCOL_INTERNAL_ERROR_BODY if is_protocol_path(scope["path"]) else INTERNAL_ERROR_BODY
                await send_with_headers(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            status = 500
        finally:
            elapsed = time.perf_counter() - start
            route_path = self._route(scope)
            method: str = scope["method"]
            self.metrics.observe_request(method, route_path, status, elapsed)
            if self.access_log:
                log_fields(
                    access_logger,
                    logging.INFO,
                    "request",
                    {
                        "request_id": request_id,
                        "method": method,
                        "route": route_path,
                        "path": scope["path"][:200],
                        "status": status,
                        "latency_ms": round(elapsed * 1000, 3),
                    },
                )

    def _route(self, scope: Scope) -> str:
        """The matched route's template; framework routes (docs) by path; anything else is unmatched."""
        route_path = getattr(scope.get("route"), "path", None)
        if isinstance(route_path, str):
            return route_path
        path: str = scope["path"]
        return path if path in self.plain_routes else UNMATCHED_ROUTE


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if _SANE_REQUEST_ID.fullmatch(value):
                return bytes(value).decode("ascii")
            break
    return os.urandom(16).hex()  # as random as a UUID4, a fifth of the cost
