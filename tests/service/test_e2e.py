"""The real server process (``python -m service``) on a free local port, spoken to over HTTP."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import pytest
from numpy.typing import NDArray

from tests.live_server import running

pytestmark = pytest.mark.slow


def test_the_server_starts_predicts_and_logs_json(
    tmp_path: Path,
    model_dir: Path,
    data_rows: NDArray[np.float64],
    as_named: Callable[[Any], dict[str, Any]],
    offline_proba: NDArray[np.float64],
) -> None:
    with (
        running(tmp_path, model_dir, INSTANCE_NAME="replica-e2e") as server,
        httpx2.Client(base_url=server.base_url) as http,
    ):
        single = http.post("/predict", json=as_named(data_rows[0]), headers={"X-Request-ID": "e2e-1"})
        assert single.status_code == 200
        assert single.headers["x-instance"] == "replica-e2e"
        assert single.headers["x-request-id"] == "e2e-1"
        batch = http.post("/predict", json={"instances": data_rows.tolist()}).json()
        served = [[p["probabilities"]["malignant"], p["probabilities"]["benign"]] for p in batch["predictions"]]
        np.testing.assert_array_equal(served, offline_proba)
        assert http.post("/predict", content=b"[NaN]", headers={"content-type": "application/json"}).status_code == 422
        assert "http_requests_total" in http.get("/metrics").text
        assert http.get("/docs").status_code == 200
    assert server.process.returncode == 0, server.log.read_text()[-3000:]  # SIGTERM drains, then exits 0
    lines = server.log_lines()  # every line is JSON (json.loads would have raised)
    access = [line for line in lines if line["logger"] == "service.access"]
    assert any(
        line["request_id"] == "e2e-1" and line["route"] == "/predict" and line["status"] == 200 for line in access
    )
    assert any(line.get("event") == "model_loaded" for line in lines)
    assert server.seconds_to_answer < 15


def test_a_chunked_body_over_the_limit_gets_413_without_being_read_to_the_end(tmp_path: Path, model_dir: Path) -> None:
    with running(tmp_path, model_dir, MAX_BODY_BYTES="2048") as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(
                b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"[" + b"1," * 511 + b"1"  # 1,024 bytes; three of them pass the 2,048-byte limit
            for _ in range(3):
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            # No terminating chunk: the server must answer without waiting for the rest of the body.
            response = _read_response(connection)
        assert response.startswith(b"HTTP/1.1 413"), response[:200]
        assert b'"payload_too_large"' in response

        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(
                b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000000\r\n\r\n["
            )
            response = _read_response(connection)
        assert response.startswith(b"HTTP/1.1 413"), response[:200]


def _read_response(connection: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
        data = connection.recv(65536)
        if not data:
            break
        received += data
    return received


def test_a_missing_model_gives_a_live_but_unready_server(tmp_path: Path) -> None:
    with (
        running(tmp_path, tmp_path / "no-such-model", wait_for="/health") as server,
        httpx2.Client(base_url=server.base_url) as http,
    ):
        assert http.get("/health").json()["model_loaded"] is False
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["error"]["details"][0]["type"] == "missing"
        assert http.post("/predict", json=[1.0]).status_code == 503
        assert server.process.poll() is None  # still running: no crash loop
    lines = server.log_lines()
    failures = [line for line in lines if line.get("event") == "model_load_failed"]
    assert len(failures) == 1
    assert "exception" not in failures[0]
    assert "Traceback" not in server.log.read_text()


def test_two_workers_share_the_port_and_aggregate_their_metrics(
    tmp_path: Path, model_dir: Path, data_rows: NDArray[np.float64]
) -> None:
    with (
        running(tmp_path, model_dir, "--workers", "2", INSTANCE_NAME="pool") as server,
        httpx2.Client(base_url=server.base_url) as http,
    ):
        for _ in range(10):
            # Each request on a new connection, so that both workers get some.
            response = httpx2.post(server.base_url + "/predict", json=data_rows[0].tolist())
            assert response.status_code == 200
            assert response.headers["x-instance"] == "pool"
        metrics = http.get("/metrics").text
        total = sum(
            float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("predictions_total{")
        )
        assert total == 10


def _offline_browser() -> Any:
    """Headless Debian chromium that can reach 127.0.0.1 and nothing else (every other host fails to resolve)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    binary, driver = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
    if not (binary.exists() and driver.exists()):
        if os.environ.get("REQUIRE_TOOLS"):
            pytest.fail("chromium or chromium-driver is not installed, and REQUIRE_TOOLS is set")
        pytest.skip("needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(binary)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(driver)))


@pytest.mark.parametrize(
    ("page", "selector", "field"),
    [("/docs", ".opblock-summary-path", "path"), ("/redoc", "[data-section-id^='operation'] h2", "summary")],
)
def test_the_docs_render_in_a_browser_without_internet(
    tmp_path: Path, model_dir: Path, page: str, selector: str, field: str
) -> None:
    """Swagger UI and ReDoc load their scripts from the service itself: a closed network still gets the docs,
    listing every operation of the OpenAPI document (Swagger UI by path, ReDoc by summary)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _offline_browser()
    try:
        with running(tmp_path, model_dir) as server:
            spec = httpx2.get(server.base_url + "/openapi.json").json()
            browser.get(server.base_url + page)
            WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, selector))
            shown = {element.text.replace("\u200b", "") for element in browser.find_elements(By.CSS_SELECTOR, selector)}
    finally:
        browser.quit()
    expected = {
        path if field == "path" else operation["summary"]
        for path, operations in spec["paths"].items()
        for operation in operations.values()
    }
    assert "/predict" in spec["paths"]
    assert shown == expected
