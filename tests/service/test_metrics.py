"""GET /metrics: counters and histograms move with the traffic, in a registry per app."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from fastapi.testclient import TestClient
from numpy.typing import NDArray


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0.0 when absent."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return 0.0


def test_metrics_count_requests_latency_and_predictions(
    make_client: Callable[..., TestClient], data_rows: NDArray[np.float64], offline_proba: NDArray[np.float64]
) -> None:
    client = make_client()
    before = client.get("/metrics").text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    assert sample(before, "model_ready") == 1.0
    assert sample(before, "predictions_total", label="malignant") == 0.0

    client.post("/predict", json={"instances": data_rows[:100].tolist()})
    client.post("/predict", json=data_rows[0].tolist())
    client.post("/predict", json=[1.0])
    client.get("/no/such/path")

    after = client.get("/metrics").text
    malignant = int((offline_proba[:100, 0] >= 0.5).sum()) + int(offline_proba[0, 0] >= 0.5)
    assert sample(after, "predictions_total", label="malignant") == malignant
    assert sample(after, "predictions_total", label="benign") == 101 - malignant
    assert sample(after, "http_requests_total", method="POST", route="/predict", status="200") == 2
    assert sample(after, "http_requests_total", method="POST", route="/predict", status="422") == 1
    assert sample(after, "http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert sample(after, "http_request_duration_seconds_count", method="POST", route="/predict", status="200") == 2
    assert (
        sample(after, "http_request_duration_seconds_bucket", method="POST", route="/predict", status="200", le="+Inf")
        == 2
    )
    assert sample(after, "prediction_batch_rows_count") == 2
    assert sample(after, "prediction_batch_rows_sum") == 101
    assert "/no/such/path" not in after  # unknown paths never become label values


def test_each_app_has_its_own_registry(make_client: Callable[..., TestClient], data_rows: NDArray[np.float64]) -> None:
    first, second = make_client(), make_client()
    first.post("/predict", json=data_rows[0].tolist())
    assert sample(first.get("/metrics").text, "http_requests_total", method="POST", route="/predict", status="200") == 1
    assert (
        sample(second.get("/metrics").text, "http_requests_total", method="POST", route="/predict", status="200") == 0
    )


def test_model_info_names_the_version(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    version = client.get("/ready").json()["model_version"]
    assert sample(client.get("/metrics").text, "model_info", model_version=version) == 1.0


def test_the_docs_static_files_have_their_own_route_label(client: TestClient) -> None:
    """Swagger UI's and ReDoc's files are docs traffic, told apart from probes of unknown paths."""
    before = client.get("/metrics").text
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/assets/no-such-file.js").status_code == 404
    assert client.get("/docs/assetsX/swagger-ui-bundle.js").status_code == 404
    after = client.get("/metrics").text

    def counted(route: str, status: str) -> float:
        labels = {"method": "GET", "route": route, "status": status}
        return sample(after, "http_requests_total", **labels) - sample(before, "http_requests_total", **labels)

    assert counted("/docs/assets/{path}", "200") == 1
    assert counted("/docs/assets/{path}", "404") == 1
    assert counted("<unmatched>", "404") == 1
    assert "swagger-ui-bundle.js" not in after


def test_the_tallies_expose_what_prometheus_clients_own_metrics_would() -> None:
    """Requests and batch sizes are counted in plain numbers: the exposition is prometheus-client's, value for value,
    bounds included (a value equal to a bucket's bound counts in it)."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    from service.metrics import LATENCY_BUCKETS, ROWS_BUCKETS, Metrics

    metrics, registry = Metrics(), CollectorRegistry()
    requests = Counter(
        "http_requests_total", "HTTP requests answered.", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "http_request_duration_seconds",
        "Time from request start to the end of the response, in seconds.",
        ["method", "route", "status"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    rows = Histogram("prediction_batch_rows", "Rows per /predict request.", buckets=ROWS_BUCKETS, registry=registry)
    in_flight = Gauge("inflight_request_bytes", "Bytes of request bodies being worked on.", registry=registry)
    seconds = [*LATENCY_BUCKETS, 0.0, 0.0004, 0.3, 7.5, 1e-9]
    for i, value in enumerate(seconds):
        status = 200 if i % 3 else 422
        metrics.observe_request("POST", "/predict", status, value)
        requests.labels("POST", "/predict", str(status)).inc()
        latency.labels("POST", "/predict", str(status)).observe(value)
    for n in (1, 2, 3, 10, 11, 10000, 20000):
        metrics.count_predictions(("malignant", "benign"), np.zeros(n, dtype=np.intp))
        rows.observe(n)
    metrics.add_in_flight_bytes(700)
    metrics.add_in_flight_bytes(-200)
    in_flight.inc(500)

    def families(text: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for line in text.splitlines():
            name = re.split(r"[ {]", line.removeprefix("# HELP ").removeprefix("# TYPE "))[0]
            found.setdefault(name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum"), []).append(line)
        return found

    ours, theirs = families(generate_latest(metrics.registry).decode()), families(generate_latest(registry).decode())
    for name in (
        "http_requests_total",
        "http_request_duration_seconds",
        "prediction_batch_rows",
        "inflight_request_bytes",
    ):
        assert ours[name] == theirs[name]
    assert (
        sample(generate_latest(metrics.registry).decode(), "predictions_total", label="malignant")
        == 1 + 2 + 3 + 10 + 11 + 10000 + 20000
    )
