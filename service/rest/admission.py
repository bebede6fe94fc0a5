"""Admission control: the request bodies being worked on at once stay under a budget, for every endpoint.

Decoding, predicting and encoding a batch take memory in proportion to its body (measured by ``make attack``),
so the sum of the bodies in flight bounds the memory of a process. A request whose body would take that sum
over ``budget_bytes`` is answered 503 with ``Retry-After`` at once, before its body is read, and counted in
``admission_rejected_total``; one request is always admitted when nothing else is in flight, so any body up to
``MAX_BODY_BYTES`` can be served. A body without ``Content-Length`` (chunked) counts as ``MAX_BODY_BYTES``.
Requests without a body (health, readiness, metrics) are never refused, so probes answer under load.

One :class:`InflightBudget` per app is shared by the fast endpoints (``service.rest.dispatch``) and by
:class:`AdmissionControl`, the middleware in front of every other route.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from service.metrics import Metrics
from service.rest.errors import error_body
from service.rest.responses import Reply

RETRY_AFTER_SECONDS: Final = 1
BODYLESS_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
OVERLOADED: Final = Reply(
    error_body("overloaded", "the server is working at its memory budget; retry after the delay in Retry-After"),
    503,
    headers=(("retry-after", str(RETRY_AFTER_SECONDS)),),
)


class InflightBudget:
    """The bytes of request bodies being worked on. Used on the event loop only, so its counter needs no lock."""

    def __init__(self, *, budget_bytes: int, max_body_bytes: int, metrics: Metrics) -> None:
        self.budget_bytes = budget_bytes
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.in_flight = 0

    def cost(self, content_length: bytes | None) -> int:
        """What a body of this declared length counts for: its length, or the limit when it is not declared."""
        if content_length is None:
            return self.max_body_bytes
        declared = int(content_length) if content_length.isdigit() else 0
        return declared if declared <= self.max_body_bytes else 0  # refused with 413 before it is read

    def admit(self, cost: int) -> bool:
        """Take ``cost`` bytes of the budget, or count a rejection and return False."""
        if self.in_flight and self.in_flight + cost > self.budget_bytes:
            self.metrics.admission_rejected.inc()
            return False
        self.in_flight += cost
        self.metrics.add_in_flight_bytes(cost)
        return True

    def release(self, cost: int) -> None:
        self.in_flight -= cost
        self.metrics.add_in_flight_bytes(-cost)


def content_length(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return bytes(value)
    return None


class AdmissionControl:
    """Pure ASGI middleware that keeps the routes behind it within ``budget``."""

    def __init__(self, app: ASGIApp, *, budget: InflightBudget) -> None:
        self.app = app
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS_METHODS:
            await self.app(scope, receive, send)
            return
        budget = self.budget
        cost = budget.cost(content_length(scope))
        if not budget.admit(cost):
            await OVERLOADED.send(send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            budget.release(cost)
