"""What a reviewer checks in rendered Kubernetes manifests: pinned images, resources, probes, a locked-down
security context, and objects that point at each other (selectors, scale targets, volumes)."""

from __future__ import annotations

from typing import Any

Document = dict[str, Any]


def pod_specs(documents: list[Document]) -> dict[str, Document]:
    """The pod spec of every workload, by kind/name; KServe's runtime containers count as a pod's."""
    specs: dict[str, Document] = {}
    for document in documents:
        spec, name = document.get("spec", {}), f"{document['kind']}/{document['metadata']['name']}"
        if document["kind"] in {"Deployment", "Job"}:
            specs[name] = spec["template"]["spec"]
        elif document["kind"] == "CronJob":
            specs[name] = spec["jobTemplate"]["spec"]["template"]["spec"]
        elif document["kind"] == "ServingRuntime":
            specs[name] = spec
    return specs


def containers(pod: Document) -> list[Document]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def one(documents: list[Document], kind: str) -> Document:
    [document] = [document for document in documents if document["kind"] == kind]
    return document


def image_reference(image: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of an image reference, each empty when absent."""
    name, _, digest = image.partition("@")
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:  # no tag, or the colon was a registry's port
        repository, tag = name, ""
    return repository, tag, digest


def test_images_are_pinned(rendered: dict[str, list[Document]], production_kustomization: str) -> None:
    """Images from a registry, at a release tag or a digest: never `latest`, the locally built `dev`, or none."""
    for name, pod in pod_specs(rendered[production_kustomization]).items():
        for container in containers(pod):
            repository, tag, digest = image_reference(container["image"])
            assert "/" in repository, f"{name}: {container['image']} names no registry"
            assert digest.startswith("sha256:") or tag not in {"", "latest", "dev"}, (
                f"{name}: {container['image']} is not pinned to a release tag or digest"
            )


def test_image_references_are_read_right() -> None:
    assert image_reference("registry.example.com:5000/wdbc/api") == ("registry.example.com:5000/wdbc/api", "", "")
    assert image_reference("r.example/wdbc/api:0.1.0") == ("r.example/wdbc/api", "0.1.0", "")
    assert image_reference("r.example/api:latest@sha256:ab") == ("r.example/api", "latest", "sha256:ab")


def test_every_container_has_requests_and_limits(rendered: dict[str, list[Document]], kustomization: str) -> None:
    for name, pod in pod_specs(rendered[kustomization]).items():
        for container in containers(pod):
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{name}/{container['name']}: {bound}"


def test_workloads_are_locked_down(rendered: dict[str, list[Document]], kustomization: str) -> None:
    """Non-root, no privilege escalation, no capabilities, read-only root filesystem, seccomp: the "restricted"
    Pod Security Standard plus a read-only root; no host namespaces or paths; no service-account token."""
    documents = rendered[kustomization]
    for name, spec in pod_specs(documents).items():
        # A ServingRuntime's pod-level settings are the InferenceService predictor's.
        predictor = one(documents, "InferenceService")["spec"]["predictor"] if name.startswith("Serving") else {}
        pod = {**spec, **predictor}
        pod_context = pod.get("securityContext", {})
        assert pod_context.get("runAsNonRoot") is True, name
        assert pod_context.get("runAsUser", 0) > 0, name
        assert pod_context.get("seccompProfile") == {"type": "RuntimeDefault"}, name
        assert pod.get("automountServiceAccountToken") is False, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod), name
        assert not [volume for volume in pod.get("volumes", []) if "hostPath" in volume], name
        for container in containers(pod):
            context = container.get("securityContext", {})
            where = f"{name}/{container['name']}"
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("capabilities") == {"drop": ["ALL"]}, where
            assert not context.get("privileged"), where


def test_serving_containers_have_every_probe(rendered: dict[str, list[Document]], kustomization: str) -> None:
    for name, pod in pod_specs(rendered[kustomization]).items():
        if name.startswith(("Job/", "CronJob/")):
            continue
        for container in pod["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert "httpGet" in container.get(probe, {}), f"{name}/{container['name']}: no HTTP {probe}"
            assert container["livenessProbe"]["httpGet"]["path"] != container["readinessProbe"]["httpGet"]["path"]


def test_objects_point_at_each_other(rendered: dict[str, list[Document]], plain_kustomization: str) -> None:
    documents = rendered[plain_kustomization]
    deployment = one(documents, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    def selects_api(selector: dict[str, str]) -> bool:
        return bool(selector.items() <= pod_labels.items())

    assert selects_api(one(documents, "Service")["spec"]["selector"])
    assert selects_api(one(documents, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"])
    policies = [document for document in documents if document["kind"] == "NetworkPolicy"]
    assert any(selects_api(policy["spec"]["podSelector"]["matchLabels"]) for policy in policies)
    for constraint in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]:
        assert selects_api(constraint["labelSelector"]["matchLabels"])
    assert {c["topologyKey"] for c in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]} >= {
        "kubernetes.io/hostname"
    }

    autoscaler = one(documents, "HorizontalPodAutoscaler")["spec"]
    assert autoscaler["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count; an apply would reset it"
    assert [metric["resource"]["name"] for metric in autoscaler["metrics"]] == ["cpu"]
    assert 1 <= autoscaler["minReplicas"] <= autoscaler["maxReplicas"]

    # Every ConfigMap and claim a pod refers to is rendered here; the secrets are the operator's to create
    # (deploy/kubernetes/README.md).
    rendered_names = {(document["kind"], document["metadata"]["name"]) for document in documents}
    for name, pod in pod_specs(documents).items():
        for volume in pod.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                assert ("PersistentVolumeClaim", claim) in rendered_names, name
        for container in containers(pod):
            for source in container.get("envFrom", []):
                assert ("ConfigMap", source["configMapRef"]["name"]) in rendered_names, name
            secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", []) if "valueFrom" in e}
            assert secrets <= {"wdbc-api-key", "wdbc-model-signing-key"}, name


def test_production_requires_the_api_key_and_the_signing_key(
    rendered: dict[str, list[Document]], production_kustomization: str
) -> None:
    """A missing secret stops the pods (CreateContainerConfigError) instead of serving without a key or accepting
    unsigned models; only the previous signing key, set during a rotation, may be absent."""
    for name, pod in pod_specs(rendered[production_kustomization]).items():
        for container in containers(pod):
            optional = {
                variable["name"]: variable["valueFrom"]["secretKeyRef"].get("optional", False)
                for variable in container.get("env", [])
                if "secretKeyRef" in variable.get("valueFrom", {})
            }
            where = f"{name}/{container['name']}"
            assert optional.get("MODEL_SIGNING_KEY") is False, f"{where}: the signing key must be required"
            assert optional.pop("MODEL_SIGNING_KEY_PREVIOUS", True) is True, where
            assert not any(optional.values()), f"{where}: optional secrets {optional}"
            if name.startswith("Deployment/") and container["name"] == "api":
                assert {"API_KEY", "ADMIN_API_KEY"} <= set(optional), where


def test_api_mounts_the_models_read_only_and_only_trainers_write(
    rendered: dict[str, list[Document]], plain_kustomization: str
) -> None:
    for name, pod in pod_specs(rendered[plain_kustomization]).items():
        claims = {v["name"]: v["persistentVolumeClaim"] for v in pod.get("volumes", []) if "persistentVolumeClaim" in v}
        for container in containers(pod):
            for mount in container.get("volumeMounts", []):
                if mount["name"] in claims:
                    writable = not mount.get("readOnly") and not claims[mount["name"]].get("readOnly")
                    assert writable == name.startswith(("Job/", "CronJob/")), f"{name}/{container['name']}"


def test_first_training_and_retraining_run_the_same_pod(
    rendered: dict[str, list[Document]], plain_kustomization: str
) -> None:
    """The CronJob is the Job's template for retraining: they differ only in TRAIN_MODE."""
    specs = pod_specs(rendered[plain_kustomization])
    [job] = [spec for name, spec in specs.items() if name.startswith("Job/")]
    [cronjob] = [spec for name, spec in specs.items() if name.startswith("CronJob/")]

    def train_mode(pod: Document) -> str:
        env = pod["containers"][0]["env"]
        [mode] = [variable["value"] for variable in env if variable["name"] == "TRAIN_MODE"]
        return str(mode)

    def without_mode(pod: Document) -> Document:
        container = {
            **pod["containers"][0],
            "env": [e for e in pod["containers"][0]["env"] if e["name"] != "TRAIN_MODE"],
        }
        return {**pod, "containers": [container]}

    assert (train_mode(job), train_mode(cronjob)) == ("if-missing", "always")
    assert without_mode(job) == without_mode(cronjob)
