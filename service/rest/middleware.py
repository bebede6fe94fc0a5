"""What every HTTP request gets and leaves behind: a request id, the instance header, metrics and the access log.

:class:`RequestObserver` holds it, for both ways a request is served: the fast endpoints
(``service.rest.dispatch``) call it directly, and :class:`RequestContextMiddleware`, a pure ASGI middleware,
applies it to every other route. Both also turn an exception that escaped everything else into the JSON 500
(with the same headers), so that no client ever sees a traceback or a plain-text error.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from typing import Final

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.logging_config import ACCESS_LOGGER, log_fields
from service.metrics import UNMATCHED_ROUTE, Metrics
from service.rest.errors import INTERNAL_ERROR_BODY, PROTOCOL_INTERNAL_ERROR_BODY, is_protocol_path
from service.rest.responses import Reply

REQUEST_ID_HEADER: Final = "x-request-id"
INSTANCE_HEADER: Final = "x-instance"
CLIENT_CLOSED_REQUEST: Final = 499
"""Status recorded (never sent) when the client disconnects before its request was read, as nginx does."""
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}")
"""A client's request id is echoed only if it is short and cannot smuggle anything into headers or logs."""
_REQUEST_ID_NAME: Final = REQUEST_ID_HEADER.encode()
_INSTANCE_NAME: Final = INSTANCE_HEADER.encode()

access_logger = logging.getLogger(ACCESS_LOGGER)
error_logger = logging.getLogger("service.errors")


def request_id(supplied: bytes | None) -> str:
    """The client's ``X-Request-ID`` if it is sane, else a new random one."""
    if supplied is not None and _SANE_REQUEST_ID.fullmatch(supplied):
        return supplied.decode("ascii")
    return next(_random_ids, None) or _new_random_ids()


_ID_BYTES: Final = 16
"""As random as a UUID4: 32 hex digits from the operating system's random source."""
_IDS_PER_DRAW: Final = 256
_random_ids: Iterator[str] = iter(())


def _new_random_ids() -> str:
    """Draw the random bytes of the next ids at once (one system call for many requests); return the first.

    ``next`` on the list's iterator hands each id out once even between threads; a process forked from this one
    starts a draw of its own (see below) rather than repeating the ids its parent will hand out.
    """
    global _random_ids  # noqa: PLW0603  (one pool per process, like the random source it draws from)
    pool = os.urandom(_ID_BYTES * _IDS_PER_DRAW).hex()
    width = 2 * _ID_BYTES
    ids = iter([pool[i : i + width] for i in range(0, len(pool), width)])
    _random_ids = ids
    return next(ids)


def _forget_random_ids() -> None:
    global _random_ids  # noqa: PLW0603
    _random_ids = iter(())


os.register_at_fork(after_in_child=_forget_random_ids)


def supplied_request_id(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_NAME:
            return bytes(value)
    return None


class RequestObserver:
    """The request id headers, the metrics and the access line of every request, and the last-resort 500."""

    def __init__(
        self,
        *,
        instance_name: str,
        metrics: Metrics,
        access_log: bool,
        plain_routes: frozenset[str] = frozenset(),
        mounts: tuple[str, ...] = (),
    ) -> None:
        self.instance = instance_name.encode("latin-1", "replace")
        self.metrics = metrics
        self.access_log = access_log
        self.plain_routes = plain_routes
        self.mounts = tuple(f"{mount}/" for mount in mounts)

    def headers(self, request_id: str) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
        """What every response carries besides its own headers."""
        return ((_REQUEST_ID_NAME, request_id.encode()), (_INSTANCE_NAME, self.instance))

    def route(self, scope: Scope) -> str:
        """The matched route's template; framework routes (docs) by path, mounted apps (the docs' static files)
        as ``<mount>/{path}``; anything else is unmatched."""
        route_path = getattr(scope.get("route"), "path", None)
        if isinstance(route_path, str):
            return route_path
        path: str = scope["path"]
        if path in self.plain_routes:
            return path
        mount = next((mount for mount in self.mounts if path.startswith(mount)), None)
        return UNMATCHED_ROUTE if mount is None else mount + "{path}"

    def finished(self, scope: Scope, route: str, status: int, request_id: str, started: float) -> None:
        """Count the request and write its access line."""
        elapsed = time.perf_counter() - started
        method: str = scope["method"]
        self.metrics.observe_request(method, route, status, elapsed)
        if self.access_log:
            log_fields(
                access_logger,
                logging.INFO,
                "request",
                {
                    "request_id": request_id,
                    "method": method,
                    "route": route,
                    "path": scope["path"][:200],
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 3),
                },
            )

    async def failed(self, scope: Scope, send: Send, error: Exception, request_id: str, *, started: bool) -> None:
        """Log an error nothing else handled and, if no response has started, answer the JSON 500."""
        error_logger.error(
            "unhandled error: %r", error, exc_info=error, extra={"request_id": request_id, "event": "unhandled"}
        )
        if not started:
            body = PROTOCOL_INTERNAL_ERROR_BODY if is_protocol_path(scope["path"]) else INTERNAL_ERROR_BODY
            await Reply(body, 500).send(send, self.headers(request_id))


class RequestContextMiddleware:
    """Applies a :class:`RequestObserver` to every request that reaches the app's middleware stack."""

    def __init__(self, app: ASGIApp, *, observer: RequestObserver) -> None:
        self.app = app
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        observer = self.observer
        rid = request_id(supplied_request_id(scope))
        scope.setdefault("state", {})["request_id"] = rid
        extra_headers = observer.headers(rid)
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
            await observer.failed(scope, send, error, rid, started=started)
            status = 500
        finally:
            observer.finished(scope, observer.route(scope), status, rid, start)
