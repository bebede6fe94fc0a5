"""Fixtures of the lifecycle tests: a models root with two versions that answer differently, and a live server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import joblib
import pytest

from neuralnet.artifacts import MANIFEST_FILE, MODEL_FILE, point_latest_at
from training.pipeline import train_model_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model directory written by the trainer, once per session. Do not modify it."""
    directory = tmp_path_factory.mktemp("lifecycle-model") / "model"
    train_model_dir(directory, preset="seed", random_state=0, cv_repeats=0)
    return directory


def write_version(source: Path, root: Path, version: str, *, flipped: bool = False) -> Path:
    """A copy of ``source`` as version ``version`` of ``root``; ``flipped`` negates the output layer, so every
    probability p becomes 1 - p: the two versions then answer every request differently."""
    destination = Path(shutil.copytree(source, root / version))
    manifest = json.loads((destination / MANIFEST_FILE).read_text())
    manifest["model_version"] = version
    if flipped:
        model = joblib.load(destination / MODEL_FILE)
        members = getattr(model, "estimators_", [model])
        for member in members:
            member.coefs_[-1] = -member.coefs_[-1]
            member.intercepts_[-1] = -member.intercepts_[-1]
        joblib.dump(model, destination / MODEL_FILE)
        manifest["artifacts"][MODEL_FILE] = hashlib.sha256((destination / MODEL_FILE).read_bytes()).hexdigest()
    (destination / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    return destination


@pytest.fixture
def models_root(trained: Path, tmp_path: Path) -> Path:
    """``root/v-a``, ``root/v-b`` (the same network, output flipped) and ``root/latest`` -> ``v-a``."""
    root = tmp_path / "models"
    root.mkdir()
    point_latest_at(root, write_version(trained, root, "v-a"))
    write_version(trained, root, "v-b", flipped=True)
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m service`` on a free port of 127.0.0.1, its output in a file."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[object]:
    """Start ``python -m service`` with extra arguments and environment; stopped at teardown."""
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str]) -> ServerProcess:
        port = free_port()
        log = tmp_path / f"server-{port}.log"
        environment = {**os.environ, "ACCESS_LOG": "false", **env}
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "service", "--port", str(port), *args],
                cwd=ROOT,
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        server = ServerProcess(process, port, log)
        started.append(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the service exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx2.get(f"{server.url}/ready", timeout=1).status_code == 200:
                    return server
            except httpx2.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"the service was not ready within 60 s:\n{log.read_text()[-3000:]}")

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.process.kill()
