"""Reload under load: versions are swapped 20 times while clients keep sending; not one request fails.

Two versions of one network answer every request differently (the second's output is flipped), so each
response body is exactly one of two byte strings; the load generator counts anything else as a failure, a
response mixing the two models included. The batches are large enough that swaps land while requests are in
flight. The last test plants a broken swap to show that the check catches one.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import pytest
import uvicorn

from neuralnet.artifacts import point_latest_at, read_manifest
from service import create_app
from service.model import ModelRuntime
from service.registry import ModelRegistry
from service.settings import Settings
from tests.lifecycle.conftest import ServerProcess, free_port
from tests.lifecycle.loadgen import LoadGenerator

SWAPS = 20
pytestmark = pytest.mark.slow


def _batch(model_dir: Path, rows: int = 200) -> bytes:
    features = read_manifest(model_dir).features
    low, high = (np.array([getattr(f, k) for f in features]) for k in ("training_min", "training_max"))
    values = np.random.default_rng(1).uniform(low, high, size=(rows, len(features)))
    return json.dumps({"instances": values.tolist()}).encode()


def _wait_for_version(url: str, version: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = httpx2.get(f"{url}/ready", timeout=5)
        if response.status_code == 200 and response.json()["model_version"] == version:
            return
        time.sleep(0.02)
    pytest.fail(f"the service did not move to {version} within 30 s")


def _expected_bodies(url: str, body: bytes, swap: Callable[[str], None]) -> dict[bytes, str]:
    """The one correct answer of each version to ``body``, taken from the service itself."""
    expected = {}
    for version in ("v-b", "v-a"):
        swap(version)
        _wait_for_version(url, version)
        expected[httpx2.post(f"{url}/predict", content=body, timeout=30).content] = version
    assert len(expected) == 2, "the two versions must answer differently"
    return expected


def _swap_under_load(url: str, body: bytes, swap: Callable[[str], None]) -> tuple[Any, float]:
    expected = _expected_bodies(url, body, swap)
    with LoadGenerator(f"{url}/predict", body, expected, connections=4) as load:
        while load.answered() < 20:  # the load is flowing before the first swap
            time.sleep(0.05)
        started = time.monotonic()
        for i in range(SWAPS):
            version = ("v-b", "v-a")[i % 2]
            swap(version)
            _wait_for_version(url, version)
            seen = load.answered()
            while load.answered() < seen + 5:  # some requests on this version before the next swap
                time.sleep(0.01)
        swapping = time.monotonic() - started
        report = load.stop()
    return report, swapping


def test_sighup_swaps_versions_under_load_without_a_failed_request(
    models_root: Path, start_server: Callable[..., ServerProcess]
) -> None:
    server = start_server(env={"MODEL_DIR": str(models_root / "latest")})

    def swap(version: str) -> None:
        point_latest_at(models_root, models_root / version)
        server.process.send_signal(signal.SIGHUP)

    report, seconds = _swap_under_load(server.url, _batch(models_root / "v-a"), swap)
    assert server.process.poll() is None, "SIGHUP must never stop the service"
    assert not report.failures, report.summary()
    assert set(report.versions) == {"v-a", "v-b"}, report.summary()
    print(f"{SWAPS} swaps by SIGHUP in {seconds:.1f} s under load: {report.summary()}")


def test_repository_loads_swap_versions_under_load_without_a_failed_request(
    models_root: Path, start_server: Callable[..., ServerProcess]
) -> None:
    server = start_server(env={"MODEL_DIR": str(models_root / "latest"), "ADMIN_API_KEY": "admin-secret"})

    def swap(version: str) -> None:
        response = httpx2.post(
            f"{server.url}/v2/repository/models/wdbc/load",
            json={"parameters": {"version": version}},
            headers={"X-Admin-Key": "admin-secret"},
            timeout=30,
        )
        assert response.status_code == 200, response.text

    report, seconds = _swap_under_load(server.url, _batch(models_root / "v-a"), swap)
    assert not report.failures, report.summary()
    assert set(report.versions) == {"v-a", "v-b"}, report.summary()
    print(f"{SWAPS} swaps by the repository API in {seconds:.1f} s under load: {report.summary()}")


class _ThreadedServer:
    """The app served by uvicorn in a thread of this process, so that a test can plant a fault in it."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.port = free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> _ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def test_the_check_catches_a_swap_that_is_not_atomic(models_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A swap that empties the slot before filling it (a planted bug) fails requests: the test above would see it."""
    gap_seen = threading.Event()
    real_load = ModelRegistry._load  # noqa: SLF001 - the planted bug replaces the registry's swap

    def two_step_load(self: ModelRegistry[Any], directory: Path, *, only_if_moved: bool) -> Any:
        self._loaded = None  # the planted bug: requests now find no model...
        gap_seen.wait(timeout=5)  # ...until one has, which makes the fault certain rather than likely
        return real_load(self, directory, only_if_moved=only_if_moved)

    real_current = ModelRegistry.current

    def noticing_current(self: ModelRegistry[Any]) -> Any:
        if self._loaded is None:
            gap_seen.set()
        return real_current(self)

    settings = Settings(model_dir=models_root / "latest", access_log=False)
    with _ThreadedServer(settings) as server:
        registry = server.app.state.context.dataplane.registry

        def swap(version: str) -> None:
            gap_seen.clear()
            registry.load(version)

        expected = _expected_bodies(server.url, _batch(models_root / "v-a", rows=20), swap)
        monkeypatch.setattr(ModelRegistry, "_load", two_step_load)
        monkeypatch.setattr(ModelRegistry, "current", noticing_current)
        with LoadGenerator(f"{server.url}/predict", _batch(models_root / "v-a", rows=20), expected) as load:
            while load.answered() < 20:
                time.sleep(0.05)
            for version in ("v-b", "v-a", "v-b"):
                swap(version)
            report = load.stop()
    assert report.failures["status 503"] > 0, report.summary()


def test_the_check_catches_a_swap_that_mixes_two_models(models_root: Path) -> None:
    """A swap that overwrites the served network layer by layer (a planted bug) gives answers of neither version."""
    settings = Settings(model_dir=models_root / "latest", access_log=False)
    body = _batch(models_root / "v-a", rows=20)
    with _ThreadedServer(settings) as server:
        registry = server.app.state.context.dataplane.registry
        expected = _expected_bodies(server.url, body, registry.load)
        other: Any = ModelRuntime.load(models_root / "v-b").model
        with LoadGenerator(f"{server.url}/predict", body, expected) as load:
            while load.answered() < 20:
                time.sleep(0.05)
            served: Any = registry.current().runtime.model
            # The planted bug: v-b's output weights, v-a's biases...
            served._coefs[-1] = other._coefs[-1]  # noqa: SLF001
            seen = load.answered()
            deadline = time.monotonic() + 10
            while load.answered() < seen + 10 and time.monotonic() < deadline:  # ...while requests are answered
                time.sleep(0.01)
            report = load.stop()
    assert report.failures["unexpected body"] > 0, report.summary()
