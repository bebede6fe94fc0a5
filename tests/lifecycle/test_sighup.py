"""SIGHUP under another server (plain uvicorn leaves it at its default, which ends the process): the running app
reloads its model from ``latest``, and only that app, never one that has stopped, however long it stays in memory
(FastAPI's own caches keep every app ever built alive)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from neuralnet.artifacts import point_latest_at
from service import create_app
from service.dataplane import DataPlane
from service.settings import Settings


def _app(models_root: Path) -> FastAPI:
    return create_app(Settings(model_dir=models_root / "latest", access_log=False))


def _version(app: FastAPI) -> str | None:
    """The version the app's registry serves (a stopped app's too)."""
    dataplane: DataPlane = app.state.context.dataplane
    served = dataplane.served
    return served.version if served is not None else None


def test_sighup_reloads_the_running_app_and_no_app_that_has_stopped(models_root: Path) -> None:
    stopped, running = _app(models_root), _app(models_root)
    found = signal.getsignal(signal.SIGHUP)
    with TestClient(stopped):
        pass  # started, served, stopped; the object lives on
    assert _version(stopped) == "v-a"

    async def serve_and_send_sighup() -> None:
        async with running.router.lifespan_context(running):
            assert signal.getsignal(signal.SIGHUP) is not signal.SIG_DFL, "SIGHUP would end the process"
            point_latest_at(models_root, models_root / "v-b")
            os.kill(os.getpid(), signal.SIGHUP)
            deadline = time.monotonic() + 60  # a generous bound: the reload runs in a thread of a busy machine
            while _version(running) != "v-b" and time.monotonic() < deadline:
                await asyncio.sleep(0.05)

    asyncio.run(serve_and_send_sighup())  # returns once the reload threads have finished
    assert _version(running) == "v-b"
    assert _version(stopped) == "v-a"  # a stopped app is not reloaded
    assert signal.getsignal(signal.SIGHUP) == found  # the running app left SIGHUP as it found it
