"""Run the service: one process, or a supervised pool of workers, with the limits from the settings."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass

from fastapi import FastAPI

from service.lifecycle import Lifecycle
from service.logging_config import configure_logging
from service.metrics import MULTIPROC_ENV
from service.rest.app import create_app
from service.server.allocator import keep_freed_memory
from service.server.graceful import GracefulServer, ServerConfig
from service.server.limits import ConnectionLimits
from service.server.workers import WorkerPool
from service.settings import Settings


@dataclass(frozen=True, slots=True)
class ServiceFactory:
    """Builds the app in the process that serves it (pickled to each worker with the settings)."""

    settings: Settings
    lifecycle: Lifecycle

    def __call__(self) -> FastAPI:
        configure_logging(self.settings.log_level)
        keep_freed_memory()
        return create_app(self.settings, lifecycle=self.lifecycle)


def server_config(settings: Settings, *, host: str, port: int, workers: int = 1) -> ServerConfig:
    lifecycle = Lifecycle()
    return ServerConfig(
        ServiceFactory(settings, lifecycle),
        limits=ConnectionLimits(
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout,
            body_timeout=settings.body_timeout,
            keep_alive_timeout=settings.keep_alive_timeout,
            max_connections=settings.max_connections,
            max_body_bytes=settings.max_body_bytes,
        ),
        lifecycle=lifecycle,
        shutdown_grace=settings.shutdown_grace,
        timeout_graceful_shutdown=settings.shutdown_timeout,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


def serve(settings: Settings, *, host: str, port: int, workers: int) -> int:
    """Serve until SIGTERM or SIGINT; return the exit status (0 after a clean drain)."""
    config = server_config(settings, host=host, port=port, workers=workers)
    if workers == 1:
        GracefulServer(config).run()
        return 0
    # Each worker counts on its own; prometheus-client's multiprocess mode sums them on /metrics.
    if not os.environ.get(MULTIPROC_ENV):
        directory = tempfile.mkdtemp(prefix="wdbc-metrics-")
        os.environ[MULTIPROC_ENV] = directory
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return WorkerPool(config, workers).run()
