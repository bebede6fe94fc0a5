"""Prometheus metrics, in a registry per app (tests build many apps in one process).

With several uvicorn workers each process counts on its own; set ``PROMETHEUS_MULTIPROC_DIR`` (``python -m
service --workers N`` does it for you) and /metrics aggregates all workers through prometheus-client's
multiprocess mode.
"""

from __future__ import annotations

import os

import numpy as np
from numpy.typing import NDArray
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
ROWS_BUCKETS = (1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000)
UNMATCHED_ROUTE = "<unmatched>"

disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double the output and nothing here reads them
"""Route label of requests no route matched, so that random paths cannot blow up the label set."""


class Metrics:
    """The service's metrics. Label values are bounded: route templates, status codes, class names."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests_total", "HTTP requests answered.", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from request start to the end of the response, in seconds.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "predictions_total", "Rows predicted, by predicted label.", ["label"], registry=self.registry
        )
        self.out_of_distribution = Counter(
            "predictions_out_of_distribution_total",
            "Rows predicted whose out-of-distribution score flagged them (against predictions_total: drift).",
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "prediction_batch_rows", "Rows per /predict request.", buckets=ROWS_BUCKETS, registry=self.registry
        )
        self.model_load_failures = Counter(
            "model_load_failures_total",
            "Attempts to load a model directory that failed, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.model_ready = Gauge(
            "model_ready",
            "1 while a verified model is loaded, else 0.",
            registry=self.registry,
            multiprocess_mode="livemin",
        )
        self.model_info = Gauge(
            "model_info",
            "1 for the model version being served.",
            ["model_version"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.admission_rejected = Counter(
            "admission_rejected_total",
            "Requests answered 503 because the request bodies in flight were at the budget (INFLIGHT_BUDGET_BYTES).",
            registry=self.registry,
        )
        self.in_flight_bytes = Gauge(
            "inflight_request_bytes",
            "Bytes of request bodies being worked on.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._version: str | None = None
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._prediction_children: dict[tuple[str, ...], list[Counter]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:  # label lookups cost more than the updates; do them once per label set
            labels = (method, route, str(status))
            children = self._request_children[key] = (self.requests.labels(*labels), self.latency.labels(*labels))
        children[0].inc()
        children[1].observe(seconds)

    def count_predictions(self, classes: tuple[str, ...], label_indices: NDArray[np.intp]) -> None:
        """Count a request's rows by predicted label (indices into ``classes``)."""
        children = self._prediction_children.get(classes)
        if children is None:
            children = self._prediction_children[classes] = [self.predictions.labels(label) for label in classes]
        rows = len(label_indices)
        if rows == 1:
            children[int(label_indices[0])].inc()
        else:
            for child, count in zip(children, np.bincount(label_indices, minlength=len(classes)).tolist(), strict=True):
                if count:
                    child.inc(count)
        self.batch_rows.observe(rows)

    def count_out_of_distribution(self, flagged: int) -> None:
        if flagged:
            self.out_of_distribution.inc(flagged)

    def model_loaded(self, version: str | None) -> None:
        if self._version is not None and self._version != version:
            self.model_info.labels(self._version).set(0)  # multiprocess files keep the value; zero it first
            self.model_info.remove(self._version)
        self._version = version
        if version is None:
            self.model_ready.set(0)
        else:
            self.model_ready.set(1)
            self.model_info.labels(version).set(1)

    def load_failed(self, reason: str) -> None:
        self.model_load_failures.labels(reason).inc()

    def render(self) -> bytes:
        """The exposition text: this app's registry, or every worker's when multiprocess mode is on."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
