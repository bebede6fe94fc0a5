"""``python -m service`` arguments and how they reach the server (its ``run`` is replaced here)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

import service.__main__ as cli
from service.metrics import MULTIPROC_ENV
from service.server.graceful import GracefulServer, ServerConfig
from service.server.protocol import GuardedHttpToolsProtocol
from service.server.workers import WorkerPool


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ServerConfig]]:
    recorded: list[tuple[str, ServerConfig]] = []
    monkeypatch.setattr(GracefulServer, "run", lambda self, sockets=None: recorded.append(("server", self.config)))

    def run_pool(pool: WorkerPool) -> int:
        recorded.append(("pool", pool.config))
        return 0

    monkeypatch.setattr(WorkerPool, "run", run_pool)
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    for name in ("MODEL_DIR", "API_KEY", "HEADER_TIMEOUT", "SHUTDOWN_GRACE", MULTIPROC_ENV):
        monkeypatch.setenv(name, "")  # records the original state, so main()'s exports are undone after the test
        monkeypatch.delenv(name)
    return recorded


def test_defaults() -> None:
    args = cli.parse_args([])
    assert (args.host, args.port, args.workers, args.model_dir) == ("127.0.0.1", 8000, 1, None)


def test_one_worker_serves_an_app_built_from_the_settings_with_their_limits(
    runs: list[tuple[str, ServerConfig]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HEADER_TIMEOUT", "3.5")
    monkeypatch.setenv("SHUTDOWN_GRACE", "7")
    assert cli.main(["--port", "9999", "--host", "0.0.0.0", "--model-dir", str(tmp_path)]) == 0
    [(kind, config)] = runs
    assert (kind, config.host, config.port) == ("server", "0.0.0.0", 9999)
    assert config.limits.header_timeout == 3.5
    assert config.shutdown_grace == 7
    config.load()
    assert config.http_protocol_class is GuardedHttpToolsProtocol
    app = config.loaded_app
    while not isinstance(app, FastAPI):  # uvicorn wraps the app (proxy headers)
        app = app.app
    assert app.state.context.settings.model_dir == tmp_path
    assert app.state.context.lifecycle is config.lifecycle, "SIGTERM must reach the app that answers /ready"


def test_model_dir_falls_back_to_the_environment(
    runs: list[tuple[str, ServerConfig]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    cli.main([])
    app: Any = runs[0][1].app
    assert app.settings.model_dir == tmp_path


def test_several_workers_get_a_supervisor_and_multiprocess_metrics(
    runs: list[tuple[str, ServerConfig]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("atexit.register", lambda *args, **kwargs: None)
    assert cli.main(["--workers", "3", "--model-dir", str(tmp_path)]) == 0
    [(kind, config)] = runs
    assert (kind, config.workers) == ("pool", 3)
    copy = pickle.loads(pickle.dumps(config))  # what each worker process receives
    assert copy.app.lifecycle is copy.lifecycle, "one lifecycle per worker, shared by its server and its app"
    assert copy.app.settings.model_dir == tmp_path
    assert Path(os.environ[MULTIPROC_ENV]).is_dir()
    Path(os.environ[MULTIPROC_ENV]).rmdir()


@pytest.mark.parametrize("argv", [["--workers", "0"], ["--port", "http"]])
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.parse_args(argv)
    assert raised.value.code == 2


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MAX_BATCH_ROWS", "0", "wdbc-serve: error: MAX_BATCH_ROWS: Input should be greater than or equal to 1"),
        ("MAX_BODY_BYTES", "lots", "wdbc-serve: error: MAX_BODY_BYTES: Input should be a valid integer"),
        ("LOG_LEVEL", "loud", "wdbc-serve: error: LOG_LEVEL: Input should be 'DEBUG'"),
    ],
)
def test_invalid_settings_exit_2_with_one_line_each_and_no_traceback(variable: str, value: str, message: str) -> None:
    """Run as users run it: a real process, the setting in its environment."""
    environment = {name: text for name, text in os.environ.items() if name not in ("MODEL_DIR", "API_KEY")}
    completed = subprocess.run(
        [sys.executable, "-m", "service", "--port", "1"],
        env=environment | {variable: value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    (line,) = completed.stderr.splitlines()
    assert line.startswith(message)
    if value != "0":
        assert value not in line  # settings may be secrets: values are never echoed
