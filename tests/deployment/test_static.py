"""Static checks of the container files, no engine needed: hadolint on every Dockerfile, the compose files against
the compose-spec schema and through ``docker compose config``, and the properties the deployment relies on."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
REPLICATED_FILE = REPO / "deploy" / "compose.replicated.yml"
DOCKERFILES = [REPO / "Dockerfile", *sorted((REPO / "deploy").rglob("Dockerfile"))]
STACKS = {"single": (COMPOSE_FILE,), "replicated": (COMPOSE_FILE, REPLICATED_FILE)}


def _compose_config(compose: list[str], env: dict[str, str], files: tuple[Path, ...], *args: str) -> str:
    options = [arg for path in files for arg in ("-f", str(path))]
    # --env-file /dev/null: a developer's .env must not change what is checked.
    result = subprocess.run(
        [*compose, "--env-file", "/dev/null", *options, "config", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"compose config {args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _model(compose: list[str], env: dict[str, str], files: tuple[Path, ...]) -> dict[str, Any]:
    model: dict[str, Any] = json.loads(_compose_config(compose, env, files, "--format", "json"))
    return model


# ---- the linters ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: str(path.relative_to(REPO)))
def test_hadolint_finds_nothing(hadolint: Path, dockerfile: Path) -> None:
    result = subprocess.run(
        [str(hadolint), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_matches_the_compose_spec_schema(check_jsonschema: Path) -> None:
    result = subprocess.run(
        [str(check_jsonschema), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_replicated_model_matches_the_compose_spec_schema(
    check_jsonschema: Path, compose: list[str], compose_env: dict[str, str], tmp_path: Path
) -> None:
    """The override alone is a fragment (and uses Compose's !reset tag), so the merged model is what's checked."""
    merged = tmp_path / "replicated.json"
    merged.write_text(_compose_config(compose, compose_env, STACKS["replicated"], "--format", "json"))
    result = subprocess.run(
        [str(check_jsonschema), "--builtin-schema", "vendor.compose-spec", str(merged)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_compose_config_accepts_the_stack(compose: list[str], compose_env: dict[str, str], stack: str) -> None:
    _compose_config(compose, compose_env, STACKS[stack], "--quiet")


# ---- what the deployment relies on -------------------------------------------------------------------------


def test_dockerfiles_build_from_the_base_image_argument() -> None:
    for dockerfile in DOCKERFILES:
        lines = dockerfile.read_text().splitlines()
        assert not any(re.match(r"#\s*syntax\s*=", line) for line in lines), f"{dockerfile}: no # syntax= line"
        instructions = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
        assert instructions[0] == "ARG BASE_IMAGE=python:3.11-slim", dockerfile
        stages: set[str] = set()
        for line in instructions:
            if match := re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE):
                assert match[1] in {"${BASE_IMAGE}", *stages}, f"{dockerfile}: {line}"
                stages.add(match[2] or "")


def test_images_run_as_a_numeric_non_root_user_and_the_api_checks_readiness() -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = dict(re.findall(r"^FROM \S+ AS (\S+)\n(.*?)(?=^FROM |\Z)", text, re.MULTILINE | re.DOTALL))
    assert {"trainer", "api"} <= set(stages)
    uid = re.search(r"^ARG APP_UID=(\d+)$", text, re.MULTILINE)
    assert uid is not None
    assert int(uid[1]) > 0
    for target in ("trainer", "api"):
        assert re.search(r"^USER \$\{APP_UID\}:\$\{APP_UID\}$", stages[target], re.MULTILINE), target
    assert "urllib.request.urlopen('http://127.0.0.1:8000/ready'" in stages["api"]
    assert re.search(r"^HEALTHCHECK ", stages["api"], re.MULTILINE)
    nginx = (REPO / "deploy" / "nginx" / "Dockerfile").read_text()
    assert re.search(r"^USER \$\{APP_UID\}:\$\{APP_UID\}$", nginx, re.MULTILINE)


def test_dockerignore_is_an_allow_list() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    included = {pattern.removeprefix("!").rstrip("/") for pattern in patterns if pattern.startswith("!")}
    assert not included & {".env", ".venv", ".git", "models", "tests"}
    # Everything the Dockerfile copies is in the context.
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    for source in (word.rstrip("/") for line in copied for word in line.split()):
        assert source in included, f"{source} is copied but excluded by .dockerignore"


def test_single_stack_wiring(compose: list[str], compose_env: dict[str, str]) -> None:
    services = _model(compose, compose_env, STACKS["single"])["services"]
    assert set(services) == {"trainer", "api"}
    api, trainer = services["api"], services["trainer"]
    assert api["depends_on"]["trainer"]["condition"] == "service_completed_successfully"
    assert [(v["source"], v["target"], v.get("read_only")) for v in api["volumes"]] == [("models", "/models", True)]
    assert [(v["source"], v["target"]) for v in trainer["volumes"]] == [("models", "/models")]
    assert [p["host_ip"] for p in api["ports"]] == ["127.0.0.1"]
    assert "/ready" in " ".join(api["healthcheck"]["test"])
    assert trainer["build"]["target"] == "trainer"
    assert api["build"]["target"] == "api"
    assert "--cv-repeats=1" in trainer["command"]


def test_replicated_stack_wiring(compose: list[str], compose_env: dict[str, str]) -> None:
    env = {**compose_env, "API_REPLICAS": "3", "LB_PORT": "18080"}
    services = _model(compose, env, STACKS["replicated"])["services"]
    api, lb = services["api"], services["lb"]
    assert api["deploy"]["replicas"] == 3
    assert not api.get("ports"), "replicas publish no port: only the load balancer is reachable"
    assert lb["depends_on"]["api"]["condition"] == "service_healthy"
    assert [(p["host_ip"], str(p["published"])) for p in lb["ports"]] == [("127.0.0.1", "18080")]


def test_every_image_builds_from_the_base_image_variable(compose: list[str], compose_env: dict[str, str]) -> None:
    env = {**compose_env, "BASE_IMAGE": "example.invalid/base:1"}
    services = _model(compose, env, STACKS["replicated"])["services"]
    for name, service in services.items():
        assert service["build"]["args"]["BASE_IMAGE"] == "example.invalid/base:1", name


# ---- deploy/pyproject_requirements.py --------------------------------------------------------------------------


def _requirements_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pyproject_requirements", REPO / "deploy/pyproject_requirements.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_requirements_come_from_pyproject() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = pyproject["project"]
    requirements = _requirements_script().requirements
    assert requirements(pyproject, ["build"]) == pyproject["build-system"]["requires"]
    assert requirements(pyproject, ["base", "service"]) == [
        *project["dependencies"],
        *project["optional-dependencies"]["service"],
    ]
    # The service loads plain arrays: its image carries no training stack.
    serving = " ".join(requirements(pyproject, ["base", "service"]))
    assert not [name for name in ("scikit-learn", "scipy", "joblib", "matplotlib") if name in serving]
    # The dev extra names the project itself with extras: expanded, and the project never appears.
    dev = requirements(pyproject, ["dev"])
    assert set(project["optional-dependencies"]["service"]) <= set(dev)
    assert not [line for line in dev if line.startswith(project["name"])]
    with pytest.raises(SystemExit, match="unknown group"):
        requirements(pyproject, ["nope"])


# ---- deploy/*.sh -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", sorted((REPO / "deploy").glob("*.sh")), ids=lambda path: path.name)
def test_shell_scripts_parse_and_are_executable(script: Path) -> None:
    assert os.access(script, os.X_OK), f"{script} is not executable"
    result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


def _train(tmp_path: Path, mode: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """deploy/train.sh as the trainer image runs it, with this environment's ``python`` first on PATH."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {"PATH": path, "MODELS_ROOT": str(tmp_path), "TRAIN_MODE": mode, **extra_env}
    return subprocess.run(
        [str(REPO / "deploy" / "train.sh"), "--cv-repeats=0", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_trainer_trains_once_then_skips_while_the_volume_holds_a_servable_model(tmp_path: Path) -> None:
    first = _train(tmp_path, "if-missing")
    assert first.returncode == 0, first.stderr
    assert "cannot be served: model directory" in first.stderr
    version = (tmp_path / "latest").readlink().name
    second = _train(tmp_path, "if-missing")
    assert second.returncode == 0, second.stderr
    assert f"model {version} verified; signature not checked (unsigned" in second.stderr
    assert "not training" in second.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["latest", version])


def test_a_trainer_with_a_signing_key_replaces_an_unsigned_model_and_signs_its_own(tmp_path: Path) -> None:
    assert _train(tmp_path, "if-missing").returncode == 0
    unsigned = (tmp_path / "latest").readlink().name
    key = "t" * 32
    replaced = _train(tmp_path, "if-missing", MODEL_SIGNING_KEY=key)
    assert replaced.returncode == 0, replaced.stderr
    assert "cannot be served" in replaced.stderr
    assert "unsigned" in replaced.stderr
    signed = (tmp_path / "latest").readlink().name
    assert signed != unsigned
    assert (tmp_path / signed / "manifest.sig").is_file()
    kept = _train(tmp_path, "if-missing", MODEL_SIGNING_KEY=key)
    assert "signature included; not training" in kept.stderr


def test_trainer_replaces_a_model_this_code_cannot_serve(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "manifest.json").write_text('{"format_version": 1}')
    (tmp_path / "latest").symlink_to("v1")
    result = _train(tmp_path, "if-missing")
    assert result.returncode == 0, result.stderr
    assert "cannot be served" in result.stderr
    assert "format_version 1" in result.stderr
    assert (tmp_path / "latest").readlink().name != "v1"
    assert (tmp_path / "latest" / "model.joblib").is_file()


def test_trainer_refuses_an_unknown_mode(tmp_path: Path) -> None:
    result = _train(tmp_path, "sometimes")
    assert result.returncode == 2
    assert "TRAIN_MODE must be 'if-missing' or 'always'" in result.stderr
