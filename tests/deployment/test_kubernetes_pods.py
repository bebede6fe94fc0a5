"""The rendered Kubernetes and KServe pods, run on the Docker engine as a kubelet would run them: each container
of the rendered pod specs with its image, command, arguments, environment (ConfigMap and Secrets included), user,
read-only root filesystem, dropped capabilities, no privilege escalation and volumes (emptyDir as tmpfs, the
models claim as a shared host directory, KServe's storageUri as its version directory at /mnt/models).

This is no cluster: no scheduler, probes, Service or NetworkPolicy. It shows that what the manifests ask the
images to do works: the trainer writes the model where the API waits for it, the API and the KServe runtime
answer their probes as non-root on a read-only root, and the API stops cleanly within the grace period.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
Document = dict[str, Any]
SECRETS = {
    ("wdbc-api-key", "api-key"): "pods-in-docker-api-key",
    ("wdbc-api-key", "admin-api-key"): "pods-in-docker-admin-key",
    ("wdbc-model-signing-key", "current"): "0" * 64,
}
"""What the operator's secrets hold here; a secret key absent from this table is absent (optional ones)."""


@pytest.fixture(scope="module")
def images(docker_engine: str) -> Iterator[dict[str, str]]:
    """The two images, built from the Dockerfile for this module, by their names in the manifests."""
    tag = f"k8s-test-{uuid.uuid4().hex[:8]}"
    built: dict[str, str] = {}
    for target in ("trainer", "api"):
        image = f"wdbc-diagnosis/{target}:{tag}"
        base = os.environ.get("BASE_IMAGE") or "python:3.11-slim"
        command = [docker_engine, "build", "-q", "--target", target, "--build-arg", f"BASE_IMAGE={base}"]
        result = subprocess.run(
            [*command, "-t", image, str(REPO)], capture_output=True, text=True, timeout=1500, check=False
        )
        assert result.returncode == 0, result.stderr[-4000:]
        built[f"wdbc-diagnosis/{target}"] = image
    yield built
    subprocess.run([docker_engine, "image", "rm", *built.values()], capture_output=True, timeout=120, check=False)


class Pods:
    """Runs containers of rendered pod specs; removes every container it started."""

    def __init__(self, docker: str, images: dict[str, str], config: dict[str, str], claims: Path) -> None:
        self.docker, self.images, self.config, self.claims = docker, images, config, claims
        self.started: list[str] = []

    def options(self, pod: Document, container: Document, subpaths: dict[str, str] | None = None) -> list[str]:
        """``docker run`` options giving the container what the pod spec gives it."""
        context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        options = ["--user", f"{context['runAsUser']}:{context['runAsGroup']}"]
        if context.get("readOnlyRootFilesystem"):
            options.append("--read-only")
        options += [arg for cap in context["capabilities"]["drop"] for arg in ("--cap-drop", cap)]
        if context.get("allowPrivilegeEscalation") is False:
            options += ["--security-opt", "no-new-privileges"]
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "emptyDir" in volume:
                options += ["--tmpfs", f"{mount['mountPath']}:uid={context['runAsUser']}"]
            else:
                readonly = mount.get("readOnly") or volume["persistentVolumeClaim"].get("readOnly")
                options += ["-v", f"{self.claims}:{mount['mountPath']}{':ro' if readonly else ''}"]
        for source, target in (subpaths or {}).items():  # KServe's storageUri mount
            options += ["-v", f"{self.claims / source}:{target}:ro"]
        for source in container.get("envFrom", []):
            assert "configMapRef" in source
            options += [arg for name, value in self.config.items() for arg in ("-e", f"{name}={value}")]
        for variable in container.get("env", []):
            if "value" in variable:
                options += ["-e", f"{variable['name']}={variable['value']}"]
                continue
            secret = variable["valueFrom"]["secretKeyRef"]
            if (secret["name"], secret["key"]) in SECRETS:
                options += ["-e", f"{variable['name']}={SECRETS[secret['name'], secret['key']]}"]
            else:
                assert secret.get("optional"), f"the test holds no secret {secret}"
        if "command" in container:
            options += ["--entrypoint", container["command"][0]]
        return [*options, self.image(container["image"]), *container.get("command", [])[1:], *container.get("args", [])]

    def image(self, reference: str) -> str:
        """The image built here for a reference of the manifests (whatever registry and tag they name)."""
        repository = reference.partition("@")[0].rpartition(":")[0] or reference
        [image] = [image for name, image in self.images.items() if f"/{repository}".endswith(f"/{name}")]
        return image

    def run(
        self, pod: Document, container: Document, *extra: str, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.docker, "run", "--rm", *extra, *self.options(pod, container)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, pod: Document, container: Document, *extra: str, subpaths: dict[str, str] | None = None) -> str:
        name = f"wdbc-k8s-test-{uuid.uuid4().hex[:8]}"
        self.started.append(name)
        command = [self.docker, "run", "-d", "--name", name, *extra, *self.options(pod, container, subpaths)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        return name

    def inspect(self, name: str, field: str) -> str:
        return subprocess.run(
            [self.docker, "inspect", "--format", field, name], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()

    def logs(self, name: str) -> str:
        result = subprocess.run([self.docker, "logs", name], capture_output=True, text=True, timeout=30, check=False)
        return result.stdout + result.stderr

    def remove_all(self) -> None:
        if self.started:
            subprocess.run([self.docker, "rm", "-f", *self.started], capture_output=True, timeout=120, check=False)


@pytest.fixture
def pods(
    docker_engine: str, images: dict[str, str], rendered: dict[str, list[Document]], tmp_path: Path
) -> Iterator[Pods]:
    claims = tmp_path / "wdbc-models"
    claims.mkdir()
    claims.chmod(0o777)  # what fsGroup does on a cluster: the pods' user may write
    [config] = [document["data"] for document in rendered["base"] if document["kind"] == "ConfigMap"]
    runner = Pods(docker_engine, images, config, claims)
    yield runner
    runner.remove_all()


def pod_spec(documents: list[Document], kind: str) -> Document:
    [document] = [document for document in documents if document["kind"] == kind]
    spec: Document = document["spec"]["template"]["spec"]
    return spec


def wait_for(url: str, status: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                code = response.status
        except urllib.error.HTTPError as error:
            code = error.code
        except OSError:
            code = 0
        if code == status:
            return
        assert time.monotonic() < deadline, f"{url} answered {code}, not {status}, for {seconds} s"
        time.sleep(0.5)


def metadata(port: int) -> Document:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metadata", timeout=10) as response:
        document: Document = json.load(response)
    return document


def published_port(pods: Pods, name: str, port: int) -> int:
    return int(pods.inspect(name, f'{{{{(index (index .NetworkSettings.Ports "{port}/tcp") 0).HostPort}}}}'))


def test_training_job_feeds_the_waiting_api_which_serves_and_stops_cleanly(
    pods: Pods, rendered: dict[str, list[Document]]
) -> None:
    documents = rendered["base"]
    api_pod, job_pod = pod_spec(documents, "Deployment"), pod_spec(documents, "Job")
    [wait] = api_pod["initContainers"]
    waiting = pods.start(api_pod, wait)  # the API pod starts beside the first training, before any model exists

    trained = pods.run(job_pod, job_pod["containers"][0], timeout=900)
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-4000:]
    assert (pods.claims / "latest" / "manifest.json").is_file()

    deadline = time.monotonic() + 120
    while pods.inspect(waiting, "{{.State.Running}}") == "true":
        assert time.monotonic() < deadline, pods.logs(waiting)
        time.sleep(1)
    assert pods.inspect(waiting, "{{.State.ExitCode}}") == "0", pods.logs(waiting)
    assert "does not exist" in pods.logs(waiting)  # it said why it was waiting

    [api] = api_pod["containers"]
    port = api["ports"][0]["containerPort"]
    serving = pods.start(api_pod, api, "-p", f"127.0.0.1::{port}")
    host_port = published_port(pods, serving, port)
    startup = api["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    wait_for(f"http://127.0.0.1:{host_port}{startup['httpGet']['path']}", 200, budget)
    wait_for(f"http://127.0.0.1:{host_port}{api['readinessProbe']['httpGet']['path']}", 200, budget)
    wait_for(f"http://127.0.0.1:{host_port}{api['livenessProbe']['httpGet']['path']}", 200, 10)
    assert metadata(host_port)["signature"] == "verified"  # signed by the trainer, checked by the API

    # Deleting a pod: preStop, then SIGTERM, then SIGKILL at the end of the grace period.
    grace = api_pod["terminationGracePeriodSeconds"] - api["lifecycle"]["preStop"]["sleep"]["seconds"]
    started = time.monotonic()
    subprocess.run([pods.docker, "stop", "--time", str(grace), serving], capture_output=True, timeout=120, check=True)
    assert time.monotonic() - started < grace
    assert pods.inspect(serving, "{{.State.ExitCode}}") == "0", pods.logs(serving)


def test_model_wait_ends_at_once_when_the_pod_is_deleted(pods: Pods, rendered: dict[str, list[Document]]) -> None:
    api_pod = pod_spec(rendered["base"], "Deployment")
    waiting = pods.start(api_pod, api_pod["initContainers"][0])
    time.sleep(3)
    assert pods.inspect(waiting, "{{.State.Running}}") == "true"
    started = time.monotonic()
    subprocess.run([pods.docker, "stop", "--time", "20", waiting], capture_output=True, timeout=60, check=True)
    assert time.monotonic() - started < 10, "the waiting shell ignored SIGTERM"


def test_kserve_runtime_serves_a_version_directory(pods: Pods, rendered: dict[str, list[Document]]) -> None:
    job_pod = pod_spec(rendered["base"], "Job")
    trainer = {**job_pod["containers"][0], "args": ["--cv-repeats=0"]}  # any model will do here
    trained = pods.run(job_pod, trainer, timeout=900)
    assert trained.returncode == 0, trained.stderr[-4000:]
    version = (pods.claims / "latest").readlink().name

    documents = rendered["kserve/base"]
    [runtime] = [document["spec"] for document in documents if document["kind"] == "ServingRuntime"]
    [service] = [document["spec"] for document in documents if document["kind"] == "InferenceService"]
    [service_name] = [d["metadata"]["name"] for d in documents if d["kind"] == "InferenceService"]
    pod = {**runtime, **service["predictor"]}
    [template] = runtime["containers"]
    # KServe fills the runtime's templates from the InferenceService.
    container = json.loads(json.dumps(template).replace("{{.Name}}", service_name))
    port = container["ports"][0]["containerPort"]
    serving = pods.start(pod, container, "-p", f"127.0.0.1::{port}", subpaths={version: "/mnt/models"})
    host_port = published_port(pods, serving, port)
    wait_for(f"http://127.0.0.1:{host_port}{container['readinessProbe']['httpGet']['path']}", 200, 60)
    wait_for(f"http://127.0.0.1:{host_port}{container['livenessProbe']['httpGet']['path']}", 200, 10)
    path = runtime["annotations"]["prometheus.kserve.io/path"]
    wait_for(f"http://127.0.0.1:{host_port}{path}", 200, 10)
    assert metadata(host_port)["signature"] == "verified"
