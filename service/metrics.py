"""Prometheus metrics, in a registry per app (tests build many apps in one process).

What every request updates (requests, latency, predictions, batch sizes, bytes in flight) is counted in plain
numbers and handed to prometheus-client when /metrics is scraped (a custom collector): a prometheus-client
update takes a lock and several calls, and a one-record request made seven of them.

With several uvicorn workers each process counts on its own; set ``PROMETHEUS_MULTIPROC_DIR`` (``python -m
service --workers N`` does it for you) and /metrics aggregates all workers through prometheus-client's
multiprocess mode, which reads the values each process writes to its files: then every update goes to
prometheus-client's metrics at once, as their files need.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections.abc import Iterator

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
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
ROWS_BUCKETS = (1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000)
UNMATCHED_ROUTE = "<unmatched>"

disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double the output and nothing here reads them
"""Route label of requests no route matched, so that random paths cannot blow up the label set."""


REQUEST_LABELS = ("method", "route", "status")
_REQUESTS = ("http_requests_total", "HTTP requests answered.")
_LATENCY = ("http_request_duration_seconds", "Time from request start to the end of the response, in seconds.")
_PREDICTIONS = ("predictions_total", "Rows predicted, by predicted label.")
_OUT_OF_DISTRIBUTION = (
    "predictions_out_of_distribution_total",
    "Rows predicted whose out-of-distribution score flagged them (against predictions_total: drift).",
)
_BATCH_ROWS = ("prediction_batch_rows", "Rows per /predict request.")
_IN_FLIGHT = ("inflight_request_bytes", "Bytes of request bodies being worked on.")


class _Observations:
    """A histogram's numbers: count, sum, and the count of each bucket (not cumulative; the last is +Inf)."""

    __slots__ = ("bounds", "buckets", "count", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * (len(bounds) + 1)

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.buckets[bisect_left(self.bounds, value)] += 1  # the first bound >= value: Prometheus' "le"

    def add_to(self, family: HistogramMetricFamily, labels: list[str]) -> None:
        cumulative, running = [], 0
        for bound, count in zip((*map(floatToGoString, self.bounds), "+Inf"), self.buckets, strict=True):
            running += count
            cumulative.append((bound, float(running)))
        family.add_metric(labels, cumulative, self.total)


class _Tallies(Collector):
    """The per-request metrics as plain numbers, exposed as Prometheus metrics when collected.

    A lock guards them: requests are counted on the event loop, but predictions also in the thread pool.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], _Observations] = {}
        self.predictions: dict[str, int] = {}
        self.out_of_distribution = 0
        self.batch_rows = _Observations(ROWS_BUCKETS)
        self.in_flight_bytes = 0

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        with self.lock:
            observations = self.requests.get(key)
            if observations is None:
                observations = self.requests[key] = _Observations(LATENCY_BUCKETS)
            observations.observe(seconds)

    def count_predictions(self, counts: dict[str, int], rows: int) -> None:
        with self.lock:
            predictions = self.predictions
            for label, count in counts.items():
                predictions[label] = predictions.get(label, 0) + count
            self.batch_rows.observe(rows)

    def count_out_of_distribution(self, flagged: int) -> None:
        with self.lock:
            self.out_of_distribution += flagged

    def add_in_flight_bytes(self, change: int) -> None:
        with self.lock:
            self.in_flight_bytes += change

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(*_REQUESTS, labels=REQUEST_LABELS)
        latency = HistogramMetricFamily(*_LATENCY, labels=REQUEST_LABELS)
        predictions = CounterMetricFamily(*_PREDICTIONS, labels=("label",))
        out_of_distribution = CounterMetricFamily(*_OUT_OF_DISTRIBUTION)
        batch_rows = HistogramMetricFamily(*_BATCH_ROWS)
        with self.lock:
            for (method, route, status), observations in self.requests.items():
                labels = [method, route, str(status)]
                requests.add_metric(labels, float(observations.count))
                observations.add_to(latency, labels)
            for label, rows in self.predictions.items():
                predictions.add_metric([label], float(rows))
            out_of_distribution.add_metric([], float(self.out_of_distribution))
            self.batch_rows.add_to(batch_rows, [])
            in_flight = GaugeMetricFamily(*_IN_FLIGHT, value=float(self.in_flight_bytes))
        yield from (requests, latency, predictions, out_of_distribution, batch_rows, in_flight)


class Metrics:
    """The service's metrics. Label values are bounded: route templates, status codes, class names."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
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
        self._version: str | None = None
        self._counts: _Tallies | _SharedMetrics
        if os.environ.get(MULTIPROC_ENV):
            self._counts = _SharedMetrics(self.registry)
        else:
            self._counts = _Tallies()
            self.registry.register(self._counts)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._counts.observe_request(method, route, status, seconds)

    def count_predictions(self, classes: tuple[str, ...], label_indices: NDArray[np.intp]) -> None:
        """Count a request's rows by predicted label (indices into ``classes``)."""
        rows = len(label_indices)
        counts = (
            {classes[int(label_indices[0])]: 1}
            if rows == 1
            else dict(zip(classes, np.bincount(label_indices, minlength=len(classes)).tolist(), strict=True))
        )
        self._counts.count_predictions(counts, rows)

    def count_out_of_distribution(self, flagged: int) -> None:
        if flagged:
            self._counts.count_out_of_distribution(flagged)

    def add_in_flight_bytes(self, change: int) -> None:
        """The request bodies being worked on grew (or, negative, shrank) by ``change`` bytes."""
        self._counts.add_in_flight_bytes(change)

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


class _SharedMetrics:
    """The per-request metrics as prometheus-client metrics, whose values multiprocess mode shares in files."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(*_REQUESTS, REQUEST_LABELS, registry=registry)
        self.latency = Histogram(*_LATENCY, REQUEST_LABELS, buckets=LATENCY_BUCKETS, registry=registry)
        self.predictions = Counter(*_PREDICTIONS, ["label"], registry=registry)
        self.out_of_distribution = Counter(*_OUT_OF_DISTRIBUTION, registry=registry)
        self.batch_rows = Histogram(*_BATCH_ROWS, buckets=ROWS_BUCKETS, registry=registry)
        self.in_flight_bytes = Gauge(*_IN_FLIGHT, registry=registry, multiprocess_mode="livesum")

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def count_predictions(self, counts: dict[str, int], rows: int) -> None:
        for label, count in counts.items():
            if count:
                self.predictions.labels(label).inc(count)
        self.batch_rows.observe(rows)

    def count_out_of_distribution(self, flagged: int) -> None:
        self.out_of_distribution.inc(flagged)

    def add_in_flight_bytes(self, change: int) -> None:
        self.in_flight_bytes.inc(change)
