"""A real server process (``python -m service``) on a free local port, for the end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

REPO = Path(__file__).resolve().parents[1]
SERVICE_VARIABLES = ("MODEL_DIR", "MAX_BATCH_ROWS", "MAX_BODY_BYTES", "LOG_LEVEL", "ACCESS_LOG", "API_KEY",
                     "CORS_ORIGINS", "INSTANCE_NAME", "PROMETHEUS_MULTIPROC_DIR")  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base_url: str, log: Path, seconds_to_answer: float) -> None:
        self.process = process
        self.base_url = base_url
        self.log = log
        self.seconds_to_answer = seconds_to_answer

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@contextmanager
def running(tmp_path: Path, model_dir: Path, *args: str, wait_for: str = "/ready", **env: str) -> Iterator[Server]:
    """Start the server, wait until ``wait_for`` answers 200, and always stop it afterwards."""
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    environment = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES} | {"SHUTDOWN_GRACE": "0"} | env
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environment.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "service", "--port", str(port), "--model-dir", str(model_dir), *args]
    started = time.perf_counter()
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=stderr, stderr=stderr)
    base_url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()}")
            if time.perf_counter() - started > 30:
                pytest.fail(f"the server did not answer {wait_for} within 30 s:\n{log.read_text()}")
            try:
                if httpx2.get(base_url + wait_for, timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            time.sleep(0.05)
        yield Server(process, base_url, log, time.perf_counter() - started)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
