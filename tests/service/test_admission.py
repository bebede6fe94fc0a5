"""Admission control: request bodies in flight stay under the budget; beyond it 503 with Retry-After, counted."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from service.metrics import Metrics
from service.rest.admission import AdmissionControl, InflightBudget

MB = 1024 * 1024


def _scope(method: str = "POST", length: int | None = 4 * MB) -> Scope:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {"type": "http", "method": method, "path": "/predict", "headers": headers}


class Blocking:
    """An app that holds each request until released, so that several are in flight at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _request(app: AdmissionControl, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _status(messages: list[Message]) -> tuple[int, dict[bytes, bytes]]:
    start: Any = messages[0]
    return start["status"], dict(start["headers"])


def test_bodies_over_the_budget_get_503_with_retry_after_and_are_counted() -> None:
    async def scenario() -> None:
        inner, metrics = Blocking(), Metrics()
        app = AdmissionControl(
            inner, budget=InflightBudget(budget_bytes=10 * MB, max_body_bytes=8 * MB, metrics=metrics)
        )
        first = asyncio.create_task(_request(app, _scope(length=4 * MB)))
        second = asyncio.create_task(_request(app, _scope(length=4 * MB)))
        await asyncio.sleep(0)
        assert app.budget.in_flight == 8 * MB
        status, headers = _status(await _request(app, _scope(length=4 * MB)))  # 12 MB > 10 MB
        assert (status, headers[b"retry-after"]) == (503, b"1")
        chunked_status, _ = _status(await _request(app, _scope(length=None)))  # counts as the 8 MB limit
        assert chunked_status == 503
        probe_task = asyncio.create_task(_request(app, _scope(method="GET", length=None)))
        await asyncio.sleep(0)
        inner.release.set()
        assert _status(await probe_task)[0] == 200  # requests without a body are never refused
        assert [_status(await task)[0] for task in (first, second)] == [200, 200]
        assert app.budget.in_flight == 0
        [family] = metrics.admission_rejected.collect()
        assert next(sample.value for sample in family.samples if sample.name.endswith("_total")) == 2

    asyncio.run(scenario())


def test_one_request_is_always_admitted_even_over_the_budget() -> None:
    async def scenario() -> None:
        inner = Blocking()
        inner.release.set()
        budget = InflightBudget(budget_bytes=1 * MB, max_body_bytes=8 * MB, metrics=Metrics())
        app = AdmissionControl(inner, budget=budget)
        assert _status(await _request(app, _scope(length=8 * MB)))[0] == 200

    asyncio.run(scenario())
