"""A load generator that checks every answer: keep-alive connections in threads, each response classified.

The service is deterministic, so for one request body each model version has exactly one correct response
body. A run is given those bodies (``expected``: body -> version); a response is counted for its version only if
its status is 200 and its body is byte for byte one of them. Anything else is a failure: another status, a
reset or refused connection, or a body that matches no version (a mix of two models, say). Where the bodies
cannot be known beforehand (a version trained during the run), ``expected`` is a function that names the
version of a body, or returns None for a body that is wrong.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadReport:
    versions: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def answered(self) -> int:
        return sum(self.versions.values())

    def merge(self, other: LoadReport) -> None:
        self.versions.update(other.versions)
        self.failures.update(other.failures)

    def summary(self) -> str:
        return (
            f"{self.answered} answered in {self.seconds:.1f} s, by version {dict(self.versions)},"
            f" failures {dict(self.failures)}"
        )


class LoadGenerator:
    """``connections`` threads posting ``body`` to ``url`` until :meth:`stop` (or ``max_seconds``)."""

    def __init__(
        self,
        url: str,
        body: bytes,
        expected: Mapping[bytes, str] | Callable[[bytes], str | None],
        *,
        connections: int = 4,
        max_seconds: float = 300.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._path = parts.path or "/"
        self._body = body
        self._classify = expected.get if isinstance(expected, Mapping) else expected
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._stop = threading.Event()
        self._deadline = time.monotonic() + max_seconds
        self._reports = [LoadReport() for _ in range(connections)]
        self._threads = [threading.Thread(target=self._run, args=(r,), daemon=True) for r in self._reports]
        self._started = 0.0

    def __enter__(self) -> LoadGenerator:
        self._started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> LoadReport:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        report = LoadReport(seconds=time.monotonic() - self._started)
        for part in self._reports:
            report.merge(part)
        return report

    def answered(self) -> int:
        """Responses so far (approximate while running): to wait until the load has really started."""
        return sum(r.answered for r in self._reports)

    def _run(self, report: LoadReport) -> None:
        connection: http.client.HTTPConnection | None = None
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(self._host, self._port, timeout=30)
                connection.request("POST", self._path, body=self._body, headers=self._headers)
                response = connection.getresponse()
                data = response.read()
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as error:
                report.failures[type(error).__name__] += 1
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(0.01)
                continue
            version = self._classify(data)
            if response.status != 200:
                report.failures[f"status {response.status}"] += 1
            elif version is None:
                report.failures["unexpected body"] += 1
            else:
                report.versions[version] += 1
        if connection is not None:
            connection.close()
