"""Admission control: the request bodies being worked on at once stay under a budget, for every endpoint.

Decoding, predicting and encoding a batch take memory in proportion to its body (measured by ``make attack``),
so the sum of the bodies in flight bounds the memory of a process. A request whose body would take that sum
over ``budget_bytes`` is answered 503 with ``Retry-After`` at once, before its body is read, and counted in
``admission_rejected_total``; one request is always admitted when nothing else is in flight, so any body up to
``MAX_BODY_BYTES`` can be served. A body without ``Content-Length`` (chunked) counts as ``MAX_BODY_BYTES``.
Requests without a body (health, readiness, metrics) are never refused, so probes answer under load.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from service.metrics import Metrics
from service.rest.errors import error_body

RETRY_AFTER_SECONDS: Final = 1
_BODYLESS_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_OVERLOADED_BODY: Final = error_body(
    "overloaded", "the server is working at its memory budget; retry after the delay in Retry-After"
)


class AdmissionControl:
    """Pure ASGI middleware. Runs on the event loop only, so its counter needs no lock."""

    def __init__(self, app: ASGIApp, *, budget_bytes: int, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.budget_bytes = budget_bytes
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODYLESS_METHODS:
            await self.app(scope, receive, send)
            return
        cost = self._cost(scope)
        if self.in_flight and self.in_flight + cost > self.budget_bytes:
            self.metrics.admission_rejected.inc()
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_OVERLOADED_BODY)).encode()),
                        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _OVERLOADED_BODY})
            return
        self.in_flight += cost
        self.metrics.in_flight_bytes.inc(cost)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= cost
            self.metrics.in_flight_bytes.dec(cost)

    def _cost(self, scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else 0
                return declared if declared <= self.max_body_bytes else 0  # refused with 413 before it is read
        return self.max_body_bytes
