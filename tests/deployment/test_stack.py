"""The compose stacks on a real Docker engine: build the images, bring a stack up with ``--wait``, talk to it on
127.0.0.1, tear it down (``down -v``) whatever happens.

Skips where no engine is reachable, unless REQUIRE_DOCKER=1 (then that is a failure). Each stack has a project
name of its own and free loopback ports, so runs in parallel do not collide.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
from sklearn.datasets import load_breast_cancer

from tests.lifecycle.loadgen import LoadGenerator

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
REPLICATED_FILE = REPO / "deploy" / "compose.replicated.yml"
APP_UID = "10001"


# ---- engine and stacks ---------------------------------------------------------------------------------------


@dataclass
class Stack:
    """One compose project, under a unique name, over the repository's compose files."""

    compose: Sequence[str]
    project: str
    files: Sequence[Path]
    env: dict[str, str] = field(default_factory=dict)

    def command(self, *args: str) -> list[str]:
        files = [arg for path in self.files for arg in ("-f", str(path))]
        # --env-file /dev/null: a developer's .env beside docker-compose.yml must not leak into the tests.
        return [*self.compose, "--env-file", os.devnull, "-p", self.project, *files, *args]

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.command(*args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"`compose {' '.join(args)}` exited {result.returncode}\n{_tail(result.stdout)}\n{_tail(result.stderr)}"
                f"\n--- logs ---\n{self.logs()}",
                pytrace=False,
            )
        return result

    def containers(self, service: str) -> list[dict[str, Any]]:
        """``compose ps --all`` of one service, as dicts (ID, State, ExitCode, Health, Publishers, ...)."""
        output = self.run("ps", "--all", "--format", "json", service).stdout.strip()
        if output.startswith("["):  # Compose before 2.21 printed one array; later ones print a line per container
            parsed: list[dict[str, Any]] = json.loads(output)
            return parsed
        return [json.loads(line) for line in output.splitlines() if line.strip()]

    def logs(self, *services: str) -> str:
        result = self.run("logs", "--no-color", *services, timeout=60, check=False)
        return _tail(result.stdout + result.stderr, 6000)

    def down(self) -> None:
        self.run("down", "--volumes", "--remove-orphans", "--timeout", "5", timeout=180, check=False)


class StackFactory(Protocol):
    def __call__(self, name: str, *, replicated: bool = False, **env: str) -> Stack: ...


def _tail(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the stack binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def session_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def stack_env(
    docker_engine: str, compose: list[str], compose_env: dict[str, str], session_id: str
) -> Iterator[dict[str, str]]:
    """Builds the trainer, api and lb images once, tagged for this session, and untags them at the end.

    Yields the environment of every stack: the session's IMAGE_TAG, BASE_IMAGE, and training without
    cross-validation (seconds).
    """
    env = {
        **compose_env,
        "IMAGE_TAG": f"test-{session_id}",
        "BASE_IMAGE": os.environ.get("BASE_IMAGE") or "python:3.11-slim",
        "TRAIN_CV_REPEATS": "0",
    }
    Stack(compose, f"wdbc-test-{session_id}-build", (COMPOSE_FILE, REPLICATED_FILE), env).run("build", timeout=1500)
    yield env
    tags = [f"wdbc-diagnosis/{image}:{env['IMAGE_TAG']}" for image in ("trainer", "api", "lb")]
    subprocess.run([docker_engine, "image", "rm", *tags], capture_output=True, timeout=120, check=False)


@pytest.fixture
def stacks(compose: list[str], stack_env: dict[str, str], session_id: str) -> Iterator[StackFactory]:
    """Makes stacks with unique project names; every one is torn down (``down -v``) whatever the test's outcome."""
    made: list[Stack] = []

    def make(name: str, *, replicated: bool = False, **env: str) -> Stack:
        files = (COMPOSE_FILE, REPLICATED_FILE) if replicated else (COMPOSE_FILE,)
        stack = Stack(compose, f"wdbc-test-{session_id}-{name}", files, {**stack_env, **env})
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.down()


# ---- HTTP, to 127.0.0.1 only ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def _request(port: int, path: str, payload: Any = None, headers: dict[str, str] | None = None) -> Reply:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="GET" if payload is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, json.load(response))
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read().decode())


@pytest.fixture(scope="module")
def malignant_row() -> list[float]:
    """Row 0 of scikit-learn's copy of the data set: a clearly malignant tumour."""
    data = load_breast_cancer()
    assert data.target_names[data.target[0]] == "malignant"
    row: list[float] = data.data[0].tolist()
    return row


# ---- the tests -----------------------------------------------------------------------------------------------


def test_single_api_trains_then_serves_on_loopback(stacks: StackFactory, malignant_row: list[float]) -> None:
    port = _free_port()
    stack = stacks("single", API_PORT=str(port))
    stack.run("up", "--detach", "--wait", "--no-build")

    [trainer] = stack.containers("trainer")
    assert (trainer["State"], trainer["ExitCode"]) == ("exited", 0)
    [api] = stack.containers("api")
    assert api["Health"] == "healthy"
    assert stack.run("port", "api", "8000").stdout.strip() == f"127.0.0.1:{port}"

    ready = _request(port, "/ready")
    assert ready.status == 200, ready
    assert ready.headers["x-instance"] == api["ID"][:12]  # INSTANCE_NAME unset: the container's host name
    assert ready.headers["x-request-id"]

    prediction = _request(port, "/predict", {"instances": [malignant_row]})
    assert prediction.status == 200, prediction
    assert prediction.body["model_version"] == ready.body["model_version"]
    [answer] = prediction.body["predictions"]
    assert answer["label"] == "malignant"
    assert answer["probability_malignant"] > 0.9

    # Hardening: a non-root user, and the model volume is read-only for the API.
    assert stack.run("exec", "-T", "api", "id", "-u").stdout.strip() == APP_UID
    write = stack.run("exec", "-T", "api", "touch", "/models/intruder", check=False)
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr

    # The trainer is idempotent by default: a second run finds the model and leaves it be.
    again = stack.run("run", "--rm", "-T", "trainer")
    assert "verified; signature not checked (unsigned: no MODEL_SIGNING_KEY); not training" in again.stderr
    assert _request(port, "/ready").body["model_version"] == ready.body["model_version"]


def test_replicas_share_the_load_and_roll_out_without_downtime(
    stacks: StackFactory, malignant_row: list[float]
) -> None:
    port = _free_port()
    stack = stacks("replicated", replicated=True, API_REPLICAS="3", LB_PORT=str(port))
    stack.run("up", "--detach", "--wait", "--no-build")

    replicas = stack.containers("api")
    assert len(replicas) == 3
    assert {replica["Health"] for replica in replicas} == {"healthy"}
    published = [p for replica in replicas for p in replica.get("Publishers") or [] if p.get("PublishedPort")]
    assert not published, "the replicas publish no port: only nginx is reachable"
    assert stack.run("port", "lb", "8080").stdout.strip() == f"127.0.0.1:{port}"

    seen: list[str] = []
    for _ in range(30):
        reply = _request(port, "/predict", {"instances": [malignant_row]})
        assert reply.status == 200, reply
        assert reply.body["predictions"][0]["label"] == "malignant"
        seen.append(reply.headers["x-instance"])
    assert set(seen) == {replica["ID"][:12] for replica in replicas}
    counts = sorted(seen.count(instance) for instance in set(seen))
    assert counts[0] >= 5, f"round robin should spread 30 requests over 3 replicas, got {counts}"

    # nginx passes the client's request id through to the replica, which echoes it.
    traced = _request(port, "/health", headers={"X-Request-ID": "deploy-test-42"})
    assert traced.headers["x-request-id"] == "deploy-test-42"

    # deploy/rollout.sh retrains and has every replica load the new version live, under load through nginx: not
    # one request fails, each is answered by the old or the new version, and no replica restarts. Then the
    # documented rollback (ROLLBACK=previous) brings the old version back the same way.
    old_version = _request(port, "/ready").body["model_version"]
    started = {replica["ID"]: _started_at(stack, replica["ID"]) for replica in replicas}
    batch = json.dumps({"instances": [malignant_row] * 50}).encode()
    new_version = _roll_out_under_load(stack, port, batch, {}, expect_versions=2)
    assert new_version != old_version
    assert _roll_out_under_load(stack, port, batch, {"ROLLBACK": "previous"}, expect_versions=2) == old_version
    assert {replica_id: _started_at(stack, replica_id) for replica_id in started} == started, "a replica restarted"


def _started_at(stack: Stack, container: str) -> str:
    inspect = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.StartedAt}} {{.RestartCount}}", container],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return inspect.stdout.strip()


def _roll_out_under_load(stack: Stack, port: int, body: bytes, env: dict[str, str], *, expect_versions: int) -> str:
    """Run deploy/rollout.sh while clients post ``body`` through nginx; return the version served afterwards."""

    def version_of(data: bytes) -> str | None:
        try:
            answer = json.loads(data)
            labels = {prediction["label"] for prediction in answer["predictions"]}
        except (ValueError, KeyError, TypeError):
            return None
        return str(answer["model_version"]) if labels == {"malignant"} else None

    with LoadGenerator(f"http://127.0.0.1:{port}/predict", body, version_of, connections=4) as load:
        while load.answered() < 20:
            time.sleep(0.05)
        rollout = subprocess.run(
            [str(REPO / "deploy" / "rollout.sh"), *stack.command()[len(stack.compose) :]],
            env={**stack.env, "COMPOSE": " ".join(stack.compose), **env},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        seen = load.answered()
        while load.answered() < seen + 20:  # the load goes on after every replica has swapped
            time.sleep(0.05)
        report = load.stop()
    assert rollout.returncode == 0, rollout.stdout + rollout.stderr
    served = {line.rsplit(" ", 1)[1] for line in rollout.stdout.splitlines() if " serves " in line}
    assert rollout.stdout.count(" serves ") == 3, rollout.stdout
    assert len(served) == 1, rollout.stdout
    assert not report.failures, report.summary()
    assert len(report.versions) == expect_versions, report.summary()
    [version] = served
    assert version in report.versions, report.summary()
    return version


def test_failed_training_keeps_the_api_down(stacks: StackFactory) -> None:
    port = _free_port()
    stack = stacks("failing", API_PORT=str(port), TRAIN_PRESET="nope")
    up = stack.run("up", "--detach", "--wait", "--no-build", check=False)
    assert up.returncode != 0, up.stdout + up.stderr
    assert 'service "trainer" didn\'t complete successfully' in up.stderr

    [trainer] = stack.containers("trainer")
    assert trainer["State"] == "exited"
    assert trainer["ExitCode"] != 0
    assert "nope" in stack.logs("trainer")

    # The API container may have been created, but it never started, so nothing answers on its port.
    assert [api["State"] for api in stack.containers("api")] in ([], ["created"])
    with pytest.raises(OSError):  # noqa: PT011 - refused or reset, depending on the platform
        _request(port, "/health")
