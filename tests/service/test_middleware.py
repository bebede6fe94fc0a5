"""Request id, instance header, access log, the last-resort 500, and CORS."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import sys
from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from service import create_app
from service.logging_config import ACCESS_LOGGER, JSONFormatter
from service.rest.middleware import request_id
from service.settings import Settings

INSTANCE = "test-instance"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/health", None), ("POST", "/predict", b"[1]"), ("GET", "/nowhere", None), ("DELETE", "/ready", None)],
)
def test_every_response_names_the_instance_and_the_request(
    client: TestClient, method: str, path: str, body: bytes | None
) -> None:
    response = client.request(method, path, content=body)
    assert response.headers["x-instance"] == INSTANCE
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_request_ids_are_unique(client: TestClient) -> None:
    ids = {client.get("/health").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize("request_id", ["abc-123", "3f2a9c1e-7d4b-4a5e-9f00-0123456789ab", "trace:span/1+x=y@z"])
def test_a_sane_request_id_is_echoed(client: TestClient, request_id: str) -> None:
    assert client.get("/health", headers={"X-Request-ID": request_id}).headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    "request_id", ["", "a" * 129, "has space", "semi;colon", 'quote"d', "-leading-dash", "ünï"], ids=repr
)
def test_an_insane_request_id_is_replaced(client: TestClient, request_id: str) -> None:
    response = client.get("/health", headers={b"X-Request-ID": request_id.encode()})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_one_json_access_line_per_request(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture, data_rows: NDArray[np.float64]
) -> None:
    client = make_client(access_log=True)
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        client.post("/predict", json=data_rows[0].tolist(), headers={"X-Request-ID": "req-1"})
        client.get("/nowhere")
    records = [record for record in caplog.records if record.name == ACCESS_LOGGER]
    assert len(records) == 2
    first = json.loads(JSONFormatter().format(records[0]))
    assert first["request_id"] == "req-1"
    assert first["method"] == "POST"
    assert first["route"] == "/predict"
    assert first["status"] == 200
    assert 0 < first["latency_ms"] < 5_000
    assert {"time", "level", "logger", "message"} <= set(first)
    second = json.loads(JSONFormatter().format(records[1]))
    assert (second["route"], second["path"], second["status"]) == ("<unmatched>", "/nowhere", 404)


def test_access_log_can_be_turned_off(make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(access_log=False)
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        client.get("/health")
    assert not [record for record in caplog.records if record.name == ACCESS_LOGGER]


def test_the_json_formatter_keeps_exceptions_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord("x", logging.ERROR, "f", 1, "failed %s", ("here",), None)
        record.exc_info = sys.exc_info()
    line = JSONFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed here"
    assert "ValueError: boom" in entry["exception"]


def test_an_unexpected_error_is_a_json_500_without_traceback(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings())

    @app.get("/explode")
    async def explode() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        response = client.get("/explode", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "internal server error", "details": []}}
    assert "secret" not in response.text
    assert response.headers["x-request-id"] == "boom-1"
    assert response.headers["x-instance"] == INSTANCE
    assert any("secret internals" in record.getMessage() for record in caplog.records)  # logged, not sent


def test_the_catch_all_handler_is_installed(make_settings: Callable[..., Settings]) -> None:
    assert Exception in create_app(make_settings()).exception_handlers


def test_cors_is_off_by_default(client: TestClient) -> None:
    response = client.options(
        "/predict", headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_the_configured_origins(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins=("https://app.example.org",))
    preflight = client.options(
        "/predict",
        headers={"Origin": "https://app.example.org", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.org"
    simple = client.get("/health", headers={"Origin": "https://app.example.org"})
    assert simple.headers["access-control-allow-origin"] == "https://app.example.org"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    other = client.get("/health", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in other.headers


def test_a_model_that_fails_to_predict_is_a_logged_json_500(
    make_client: Callable[..., TestClient], data_rows: NDArray[np.float64], caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.full((len(X), 2), np.nan)

    client = make_client()
    registry = client.app.state.context.dataplane.registry  # type: ignore[attr-defined]
    # A planted fault, swapped in behind the registry's back (a load would refuse this model).
    loaded = registry._loaded  # noqa: SLF001
    served = dataclasses.replace(loaded.served, runtime=dataclasses.replace(loaded.served.runtime, model=Broken()))
    registry._loaded = dataclasses.replace(loaded, served=served)  # noqa: SLF001
    with caplog.at_level(logging.ERROR):
        response = client.post("/predict", json=data_rows[0].tolist())
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "prediction_failed"
    assert "NaN" not in response.text
    assert any("prediction_failed" in record.getMessage() for record in caplog.records)


def test_the_direct_access_line_is_what_the_formatter_writes(capsys: pytest.CaptureFixture[str]) -> None:
    """Written straight to our handlers' streams, the line holds what logging and the formatter would write."""
    from service.logging_config import configure_logging, log_fields

    root = logging.getLogger()
    before = list(root.handlers)
    root.handlers.clear()  # pytest's own capture handler would send the line through logging
    try:
        configure_logging("INFO")
        logger = logging.getLogger(ACCESS_LOGGER)
        fields = {"request_id": "r-1", "method": "POST", "route": "/predict", "status": 200, "latency_ms": 0.5}
        log_fields(logger, logging.INFO, "request", fields)
        log_fields(logger, logging.DEBUG, "hidden", fields)
        lines = capsys.readouterr().err.splitlines()
        expected = json.loads(
            JSONFormatter().format(
                logger.makeRecord(logger.name, logging.INFO, "", 0, "request", (), None, extra=fields)
            )
        )
    finally:
        root.handlers[:] = before
    assert len(lines) == 1
    written = json.loads(lines[0])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", written.pop("time"))
    expected.pop("time")
    assert written == expected


def test_a_protocol_endpoint_over_the_memory_budget_gets_503_with_the_request_headers(
    make_client: Callable[..., TestClient], data_rows: NDArray[np.float64]
) -> None:
    from tests.service.test_metrics import sample

    client = make_client(inflight_budget_bytes=1024)
    budget = client.app.dispatch.budget  # type: ignore[attr-defined]
    assert budget.admit(1020)  # a request in flight holds most of the budget
    try:
        response = client.post("/v2/models/wdbc/infer", json={"inputs": []}, headers={"X-Request-ID": "full-1"})
    finally:
        budget.release(1020)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "overloaded"
    assert (response.headers["retry-after"], response.headers["x-request-id"]) == ("1", "full-1")
    assert response.headers["x-instance"] == INSTANCE
    metrics = client.get("/metrics").text
    assert sample(metrics, "admission_rejected_total") == 1
    assert sample(metrics, "http_requests_total", method="POST", route="<unmatched>", status="503") == 1
    assert client.post("/predict", json=data_rows[0].tolist()).status_code == 200  # the budget is free again
    assert budget.in_flight == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/predict", {"code": "internal_error", "message": "internal server error", "details": []}),
        ("/v2/models/wdbc/infer", "internal server error"),
    ],
)
def test_an_unexpected_error_in_a_protocol_endpoint_is_a_json_500_in_its_shape(
    make_client: Callable[..., TestClient],
    data_rows: NDArray[np.float64],
    caplog: pytest.LogCaptureFixture,
    path: str,
    body: object,
) -> None:
    from tests.service.test_metrics import sample

    client = make_client(access_log=True)
    dataplane = client.app.state.context.dataplane  # type: ignore[attr-defined]

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    dataplane.infer = explode  # a planted fault below the endpoints
    row = data_rows[0].tolist()
    tensor = {"name": "features", "shape": [1, 30], "datatype": "FP64", "data": row}
    payload = row if path == "/predict" else {"inputs": [tensor]}
    with caplog.at_level(logging.INFO):
        response = client.post(path, json=payload, headers={"X-Request-ID": "boom-2"})
    assert response.status_code == 500
    assert response.json() == {"error": body}
    assert "secret" not in response.text
    assert (response.headers["x-request-id"], response.headers["x-instance"]) == ("boom-2", INSTANCE)
    assert any("secret internals" in record.getMessage() for record in caplog.records)
    [access] = [record for record in caplog.records if record.name == ACCESS_LOGGER]
    assert json.loads(JSONFormatter().format(access))["status"] == 500
    route = "/predict" if path == "/predict" else "/v2/models/{model_name}/infer"
    assert sample(client.get("/metrics").text, "http_requests_total", method="POST", route=route, status="500") == 1


def test_access_lines_logged_on_an_event_loop_are_written_together_soon_after_in_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Lines logged on a loop share one write, within moments or once many wait; nothing is lost or reordered,
    also when a loop ends with lines waiting and another loop logs next."""
    import asyncio

    from service.logging_config import PENDING_LINES, PENDING_SECONDS, configure_logging, log_fields

    root = logging.getLogger()
    before = list(root.handlers)
    root.handlers.clear()
    try:
        configure_logging("INFO")
        access = logging.getLogger(ACCESS_LOGGER)

        def written() -> list[object]:
            lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
            assert all(line["logger"] == ACCESS_LOGGER for line in lines if "n" in line)
            return [line.get("n", line["message"]) for line in lines]

        async def scenario() -> list[list[object]]:
            for n in range(3):
                log_fields(access, logging.INFO, "request", {"n": n})
            await asyncio.sleep(0)
            waiting = written()
            logging.getLogger("service.other").warning("between")  # written after the lines logged before it
            log_fields(access, logging.INFO, "request", {"n": 3})
            await asyncio.sleep(0)
            still_waiting = written()
            await asyncio.sleep(PENDING_SECONDS * 3)
            after_a_moment = written()
            for n in range(4, 4 + PENDING_LINES):
                log_fields(access, logging.INFO, "request", {"n": n})
            many = written()
            log_fields(access, logging.INFO, "request", {"n": "last of the first loop"})
            return [waiting, still_waiting, after_a_moment, many]

        async def next_loop() -> list[list[object]]:
            log_fields(access, logging.INFO, "request", {"n": "on the next loop"})
            await asyncio.sleep(PENDING_SECONDS * 3)
            after_a_moment = written()
            log_fields(access, logging.INFO, "request", {"n": "at exit"})
            [handler] = root.handlers
            handler.flush()  # what logging does at exit
            return [after_a_moment, written()]

        outputs = asyncio.run(scenario()) + asyncio.run(next_loop())
    finally:
        root.handlers[:] = before
    assert outputs == [
        [],
        [0, 1, 2, "between"],
        [3],
        list(range(4, 4 + PENDING_LINES)),
        ["last of the first loop", "on the next loop"],
        ["at exit"],
    ]


def test_new_request_ids_are_random_hex_and_never_repeat() -> None:
    """Ids are drawn from the OS's random source many at a time: each is handed out once, draw after draw."""
    ids = [request_id(None) for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_does_not_repeat_its_parents_request_ids() -> None:
    request_id(None)  # a draw is under way: the parent holds ids it has not handed out yet
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next id and leave at once
        os.write(writer, request_id(None).encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    child = os.read(reader, 64).decode()
    os.close(reader)
    assert child != request_id(None)
