"""The Kubernetes and KServe manifests use the ports, paths, probe endpoints, environment variables, user and
mount paths that the service, the trainer and the Dockerfile use, read from them, not copied: a rename breaks a
test here rather than a cluster."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from neuralnet.artifacts import FORMAT_VERSION, LATEST_LINK, PREVIOUS_SIGNING_KEY_ENV, SIGNING_KEY_ENV
from service import create_app
from service.__main__ import parse_args as parse_service_args
from service.settings import Settings
from training.cli import build_parser as training_parser
from training.pipeline import new_model_version

Document = dict[str, Any]
REPO = Path(__file__).resolve().parents[2]

KSERVE_MODEL_DIR = "/mnt/models"
"""Where KServe mounts an InferenceService's storageUri in the serving container (DefaultModelLocalMountPath in
KServe's pkg/constants/constants.go, v0.20.0)."""

SETTINGS_VARIABLES = {name.upper() for name in Settings.model_fields}


# ---- the sources of truth ----------------------------------------------------------------------------------------


def dockerfile_stage(target: str) -> dict[str, Any]:
    """ENV, EXPOSE, CMD, ENTRYPOINT and VOLUME of one stage of the Dockerfile (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())
    stages = dict(re.findall(r"^FROM \S+ AS (\S+)\n(.*?)(?=^FROM |\Z)", text, re.MULTILINE | re.DOTALL))
    stage: dict[str, Any] = {"ENV": {}, "EXPOSE": []}
    for instruction, argument in re.findall(r"^(ENV|EXPOSE|CMD|ENTRYPOINT|VOLUME) (.+)$", stages[target], re.M):
        if instruction == "ENV":
            stage["ENV"].update(pair.split("=", 1) for pair in shlex.split(argument))
        elif instruction == "EXPOSE":
            stage["EXPOSE"] += [int(port.split("/")[0]) for port in argument.split()]
        else:
            stage[instruction] = json.loads(argument)
    return stage


def app_uid() -> int:
    match = re.search(r"^ARG APP_UID=(\d+)$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    assert match is not None
    return int(match[1])


def image_port() -> int:
    """The port the API image serves on: its command's --port, which EXPOSE must agree with."""
    api = dockerfile_stage("api")
    assert api["CMD"][:3] == ["python", "-m", "service"]
    port = int(parse_service_args(api["CMD"][3:]).port)
    assert api["EXPOSE"] == [port]
    return port


@pytest.fixture(scope="module")
def client_without_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The service as a pod starts before its model exists."""
    missing = tmp_path_factory.mktemp("empty") / LATEST_LINK
    with TestClient(create_app(Settings(model_dir=missing))) as client:
        yield client


def route_paths() -> set[str]:
    """The paths of the service's OpenAPI document."""
    return set(create_app(Settings(model_dir=Path("/nonexistent"))).openapi()["paths"])


def by_kind(documents: list[Document], kind: str) -> Document:
    [document] = [document for document in documents if document["kind"] == kind]
    return document


def env_names(container: Document) -> set[str]:
    return {variable["name"] for variable in container.get("env", [])}


def claims_by_volume(pod: Document) -> dict[str, str]:
    return {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}


def probe_paths(container: Document) -> dict[str, str]:
    return {probe: container[probe]["httpGet"]["path"] for probe in ("startupProbe", "livenessProbe", "readinessProbe")}


# ---- plain Kubernetes ----------------------------------------------------------------------------------------------


def test_api_port_is_the_images(rendered: dict[str, list[Document]], plain_kustomization: str) -> None:
    documents = rendered[plain_kustomization]
    pod = by_kind(documents, "Deployment")["spec"]["template"]
    [api] = pod["spec"]["containers"]
    assert "command" not in api, "the API runs the image's own command"
    assert "args" not in api, "the API runs the image's own command"
    [port] = api["ports"]
    assert port["containerPort"] == image_port()
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert api[probe]["httpGet"]["port"] in (port["name"], port["containerPort"]), probe
    [service_port] = by_kind(documents, "Service")["spec"]["ports"]
    assert service_port["targetPort"] in (port["name"], port["containerPort"])
    assert int(pod["metadata"]["annotations"]["prometheus.io/port"]) == port["containerPort"]
    policy = next(d for d in documents if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "wdbc-api")
    assert [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]] == [port["name"]]


def test_probes_and_scraping_use_the_services_endpoints(
    rendered: dict[str, list[Document]], plain_kustomization: str, client_without_model: TestClient
) -> None:
    """Liveness and startup on the endpoint that answers 200 without a model (a pod waiting for one is alive),
    readiness on the one that answers 503 until a model is loaded, Prometheus on the metrics endpoint."""
    pod = by_kind(rendered[plain_kustomization], "Deployment")["spec"]["template"]
    paths = probe_paths(pod["spec"]["containers"][0])
    assert client_without_model.get(paths["startupProbe"]).status_code == 200
    assert client_without_model.get(paths["livenessProbe"]).status_code == 200
    assert client_without_model.get(paths["readinessProbe"]).status_code == 503
    metrics = client_without_model.get(pod["metadata"]["annotations"]["prometheus.io/path"])
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")


def test_api_settings_are_settings_of_the_service(
    rendered: dict[str, list[Document]], plain_kustomization: str
) -> None:
    documents = rendered[plain_kustomization]
    config = by_kind(documents, "ConfigMap")["data"]
    assert set(config) <= SETTINGS_VARIABLES, set(config) - SETTINGS_VARIABLES
    Settings.model_validate({name.lower(): value for name, value in config.items()})  # every value parses
    pod = by_kind(documents, "Deployment")["spec"]["template"]["spec"]
    for container in [*pod["initContainers"], *pod["containers"]]:
        assert env_names(container) <= SETTINGS_VARIABLES, container["name"]


def test_model_paths_are_the_images_and_the_trainers(
    rendered: dict[str, list[Document]], plain_kustomization: str
) -> None:
    """The trainer writes MODELS_ROOT/<version> and MODELS_ROOT/latest; the API serves MODEL_DIR: the same paths as
    in the images, on the same volume, mounted where the images expect it."""
    documents = rendered[plain_kustomization]
    trainer_image, api_image = dockerfile_stage("trainer"), dockerfile_stage("api")
    models_root = trainer_image["ENV"]["MODELS_ROOT"]
    assert trainer_image["VOLUME"] == [models_root]
    model_dir = by_kind(documents, "ConfigMap")["data"]["MODEL_DIR"]
    assert model_dir == api_image["ENV"]["MODEL_DIR"] == f"{models_root}/{LATEST_LINK}"

    deployment = by_kind(documents, "Deployment")["spec"]["template"]["spec"]
    api_claims = claims_by_volume(deployment)
    for container in [*deployment["initContainers"], *deployment["containers"]]:
        mounts = {m["mountPath"]: api_claims[m["name"]] for m in container["volumeMounts"] if m["name"] in api_claims}
        assert list(mounts) == [models_root], container["name"]

    for kind in ("Job", "CronJob"):
        spec = by_kind(documents, kind)["spec"]
        pod = (spec["jobTemplate"]["spec"] if kind == "CronJob" else spec)["template"]["spec"]
        [trainer] = pod["containers"]
        assert "command" not in trainer, "the trainer runs the image's entry point"
        env = {variable["name"]: variable.get("value") for variable in trainer["env"]}
        assert set(env) == {"MODELS_ROOT", "TRAIN_MODE", SIGNING_KEY_ENV}  # what train.sh and training read
        assert env["MODELS_ROOT"] == models_root
        claims = claims_by_volume(pod)
        mounted = {m["mountPath"]: claims[m["name"]] for m in trainer["volumeMounts"] if m["name"] in claims}
        assert mounted == {models_root: next(iter(api_claims.values()))}, kind
        training_parser().parse_args(trainer["args"])  # the entry point passes them on to `python -m training`
        modes = re.findall(r"^\s*([a-z-]+)\)", (REPO / "deploy" / "train.sh").read_text(), re.MULTILINE)
        assert env["TRAIN_MODE"] in modes


def test_grace_period_covers_the_services_shutdown(
    rendered: dict[str, list[Document]], plain_kustomization: str
) -> None:
    """Deleting a pod: preStop, then SIGTERM, after which the service reports not ready but accepts for
    SHUTDOWN_GRACE, then finishes what it holds for at most SHUTDOWN_TIMEOUT. The kubelet's SIGKILL comes after."""
    documents = rendered[plain_kustomization]
    pod = by_kind(documents, "Deployment")["spec"]["template"]["spec"]
    settings = Settings.model_validate({k.lower(): v for k, v in by_kind(documents, "ConfigMap")["data"].items()})
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    needed = pre_stop + settings.shutdown_grace + settings.shutdown_timeout
    assert needed < pod["terminationGracePeriodSeconds"] <= needed + 15


def test_kserve_grace_period_covers_the_services_shutdown(
    rendered: dict[str, list[Document]], kserve_kustomization: str
) -> None:
    documents = rendered[kserve_kustomization]
    [container] = by_kind(documents, "ServingRuntime")["spec"]["containers"]
    settings = Settings(model_dir=Path(KSERVE_MODEL_DIR))  # the runtime leaves the shutdown settings as they are
    assert not {"SHUTDOWN_GRACE", "SHUTDOWN_TIMEOUT"} & env_names(container)
    needed = container["lifecycle"]["preStop"]["sleep"]["seconds"] + settings.shutdown_grace + settings.shutdown_timeout
    grace = by_kind(documents, "InferenceService")["spec"]["predictor"]["terminationGracePeriodSeconds"]
    assert needed < grace <= needed + 15


def test_pods_run_as_the_images_user(rendered: dict[str, list[Document]], plain_kustomization: str) -> None:
    """The same numeric user as the images, so files the trainer writes are the API's to read."""
    documents = rendered[plain_kustomization]
    for kind in ("Deployment", "Job"):
        context = by_kind(documents, kind)["spec"]["template"]["spec"]["securityContext"]
        assert context["runAsUser"] == context["runAsGroup"] == app_uid(), kind
    assert by_kind(documents, "Job")["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == app_uid()


def test_trainer_signs_with_the_key_the_api_checks(
    rendered: dict[str, list[Document]], plain_kustomization: str
) -> None:
    """The variables the trainer signs with and the service and the verifier check with, from one secret key."""
    documents = rendered[plain_kustomization]
    api = by_kind(documents, "Deployment")["spec"]["template"]["spec"]
    trainer = by_kind(documents, "Job")["spec"]["template"]["spec"]["containers"][0]

    def secret_keys(container: Document) -> dict[str, tuple[str, str]]:
        return {
            variable["name"]: (
                variable["valueFrom"]["secretKeyRef"]["name"],
                variable["valueFrom"]["secretKeyRef"]["key"],
            )
            for variable in container["env"]
            if "secretKeyRef" in variable.get("valueFrom", {})
        }

    signing = secret_keys(trainer)[SIGNING_KEY_ENV]
    assert {SIGNING_KEY_ENV, PREVIOUS_SIGNING_KEY_ENV} <= SETTINGS_VARIABLES
    for container in [*api["initContainers"], *api["containers"]]:
        keys = secret_keys(container)
        assert keys[SIGNING_KEY_ENV] == signing, container["name"]
        assert keys[PREVIOUS_SIGNING_KEY_ENV][0] == signing[0], container["name"]


def test_model_wait_runs_the_verifier_of_the_api_image(
    rendered: dict[str, list[Document]], plain_kustomization: str
) -> None:
    import neuralnet.verify

    pod = by_kind(rendered[plain_kustomization], "Deployment")["spec"]["template"]["spec"]
    [wait] = pod["initContainers"]
    assert wait["image"] == pod["containers"][0]["image"]
    assert f'python -m {neuralnet.verify.__name__} "$MODEL_DIR"' in wait["command"][-1]
    assert wait["envFrom"] == pod["containers"][0]["envFrom"]


# ---- KServe -------------------------------------------------------------------------------------------------------


def test_serving_runtime_runs_the_service(
    rendered: dict[str, list[Document]], kserve_kustomization: str, client_without_model: TestClient
) -> None:
    runtime = by_kind(rendered[kserve_kustomization], "ServingRuntime")["spec"]
    [container] = runtime["containers"]
    assert container["name"] == "kserve-container"  # the name KServe looks for
    assert container["command"] == dockerfile_stage("api")["CMD"][:3]
    arguments = parse_service_args(container["args"])
    [port] = container["ports"]
    assert port["containerPort"] == arguments.port
    assert arguments.host == "0.0.0.0"
    assert int(runtime["annotations"]["prometheus.kserve.io/port"]) == arguments.port
    assert client_without_model.get(runtime["annotations"]["prometheus.kserve.io/path"]).status_code == 200
    paths = probe_paths(container)
    assert client_without_model.get(paths["livenessProbe"]).status_code == 200
    assert client_without_model.get(paths["startupProbe"]).status_code == 200
    assert client_without_model.get(paths["readinessProbe"]).status_code == 503
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == arguments.port, probe
    env = {variable["name"]: variable.get("value") for variable in container["env"]}
    assert set(env) <= SETTINGS_VARIABLES
    assert env["MODEL_DIR"] == KSERVE_MODEL_DIR
    # KServe puts the InferenceService's name for {{.Name}}: it must be a model name the service accepts.
    [service] = [d for d in rendered[kserve_kustomization] if d["kind"] == "InferenceService"]
    model_name = env["MODEL_NAME"].replace("{{.Name}}", service["metadata"]["name"])
    assert Settings(model_dir=Path(KSERVE_MODEL_DIR), model_name=model_name).model_name == model_name
    assert container["securityContext"]["runAsNonRoot"] is True


def test_inference_service_fits_the_runtime_and_the_models(
    rendered: dict[str, list[Document]], kserve_kustomization: str
) -> None:
    documents = rendered[kserve_kustomization]
    runtime = by_kind(documents, "ServingRuntime")
    predictor = by_kind(documents, "InferenceService")["spec"]["predictor"]
    model = predictor["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"] in [
        {"name": f["name"], "version": f["version"]} for f in runtime["spec"]["supportedModelFormats"]
    ]
    assert model["modelFormat"]["version"] == str(FORMAT_VERSION)
    assert model.get("protocolVersion") in runtime["spec"].get("protocolVersions", [None])
    assert predictor["securityContext"]["runAsUser"] == app_uid()

    # pvc://<the claim the trainer writes>/<a version directory it names>
    claim = by_kind(rendered["base"], "PersistentVolumeClaim")["metadata"]["name"]
    match = re.fullmatch(rf"pvc://{claim}/(\d{{8}}T\d{{6}}Z)-([a-z0-9-]+)", model["storageUri"])
    assert match is not None, model["storageUri"]
    when = datetime.strptime(match[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert new_model_version(match[2], when) == f"{match[1]}-{match[2]}"


def test_runtime_speaks_the_protocols_it_declares(rendered: dict[str, list[Document]]) -> None:
    """KServe picks the runtime by protocol: each one declared must have its inference route in the service."""
    inference_routes = {"v1": r"/v1/models/\{[^}]+\}:predict", "v2": r"/v2/models/\{[^}]+\}/infer"}
    paths = route_paths()
    declared = by_kind(rendered["kserve/base"], "ServingRuntime")["spec"].get("protocolVersions", [])
    assert declared, "the runtime declares no protocol"
    for protocol in declared:
        assert any(re.fullmatch(inference_routes[protocol], path) for path in paths), f"{protocol}: no route"
