"""``python -m service`` arguments and how they reach uvicorn (uvicorn itself is replaced here)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

import service.__main__ as cli
from service.metrics import MULTIPROC_ENV


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    recorded: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: recorded.append((app, kwargs)))
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    for name in ("MODEL_DIR", "API_KEY", MULTIPROC_ENV):
        monkeypatch.setenv(name, "")  # records the original state, so main()'s exports are undone after the test
        monkeypatch.delenv(name)
    return recorded


def test_defaults() -> None:
    args = cli.parse_args([])
    assert (args.host, args.port, args.workers, args.model_dir) == ("127.0.0.1", 8000, 1, None)


def test_one_worker_runs_an_app_built_from_the_settings(
    calls: list[tuple[Any, dict[str, Any]]], tmp_path: Path
) -> None:
    assert cli.main(["--port", "9999", "--host", "0.0.0.0", "--model-dir", str(tmp_path)]) == 0
    ((app, kwargs),) = calls
    assert isinstance(app, FastAPI)
    assert app.state.context.settings.model_dir == tmp_path
    assert kwargs == {"host": "0.0.0.0", "port": 9999, "log_config": None, "access_log": False}


def test_model_dir_falls_back_to_the_environment(
    calls: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    cli.main([])
    assert calls[0][0].state.context.settings.model_dir == tmp_path


def test_several_workers_use_the_factory_and_multiprocess_metrics(
    calls: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("atexit.register", lambda *args, **kwargs: None)
    cli.main(["--workers", "3", "--model-dir", str(tmp_path)])
    ((app, kwargs),) = calls
    assert app == "service.rest.app:create_app_from_env"
    assert kwargs["factory"] is True
    assert kwargs["workers"] == 3
    assert os.environ["MODEL_DIR"] == str(tmp_path)
    assert Path(os.environ[MULTIPROC_ENV]).is_dir()
    Path(os.environ[MULTIPROC_ENV]).rmdir()


@pytest.mark.parametrize("argv", [["--workers", "0"], ["--port", "http"]])
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.parse_args(argv)
    assert raised.value.code == 2
