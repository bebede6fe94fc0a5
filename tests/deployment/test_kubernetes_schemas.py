"""Every rendered Kubernetes manifest against the real schemas, strictly (an unknown field is an error): the
built-in kinds against the OpenAPI schema of a pinned Kubernetes release (kubernetes-validate), KServe's kinds
against the CRDs of a pinned KServe release, vendored in deploy/kubernetes/vendor."""

from __future__ import annotations

import copy
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

KUBERNETES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.37.0"
"""The Kubernetes release the manifests target: the newest whose schemas kubernetes-validate ships."""

KSERVE_CRDS = KUBERNETES_DIR / "vendor" / "kserve-v0.20.0"

# What each kustomization must produce, at least: an overlay that silently lost its base, or a KServe
# kustomization that lost a resource, renders a valid but useless stack.
EXPECTED_KINDS = {
    "base": {
        "ConfigMap", "CronJob", "Deployment", "HorizontalPodAutoscaler", "Job", "NetworkPolicy",
        "PersistentVolumeClaim", "PodDisruptionBudget", "Service", "ServiceAccount",
    },
    "kserve": {"InferenceService", "ServingRuntime"},
}  # fmt: skip


def expected_kinds(kustomization: str) -> set[str]:
    if kustomization.startswith("kserve/"):
        return EXPECTED_KINDS["kserve"]
    return EXPECTED_KINDS["base"] | ({"Namespace"} if kustomization.startswith("overlays/") else set())


def strict(schema: Any) -> Any:
    """A CRD's structural schema as the API server applies it with strict field validation: an object with
    declared properties admits no other field (unless it preserves unknown fields), and int-or-string means that."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    if result.get("x-kubernetes-int-or-string"):
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


@cache
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> a validator of the served versions of every vendored CRD."""
    validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    for path in sorted(KSERVE_CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version["served"]:
                schema = strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
                validators[(f"{group}/{version['name']}", kind)] = validator_class(schema)
    return validators


def test_every_kustomization_is_found(kustomizations: list[str]) -> None:
    assert {"base", "overlays/production", "overlays/dev", "kserve/base", "kserve/canary"} <= set(kustomizations)


def test_kustomization_renders_what_it_must(rendered: dict[str, list[dict[str, Any]]], kustomization: str) -> None:
    documents = rendered[kustomization]
    assert documents, f"{kustomization} renders nothing"
    kinds = {document["kind"] for document in documents}
    assert expected_kinds(kustomization) <= kinds, f"{kustomization} lacks {expected_kinds(kustomization) - kinds}"
    names = [(document["kind"], document["metadata"]["name"]) for document in documents]
    assert len(names) == len(set(names)), f"{kustomization} renders a resource twice"


def test_every_manifest_matches_its_schema(rendered: dict[str, list[dict[str, Any]]], kustomization: str) -> None:
    validators = crd_validators()
    problems: list[str] = []
    for document in rendered[kustomization]:
        where = f"{document['kind']}/{document['metadata']['name']}"
        custom = validators.get((document["apiVersion"], document["kind"]))
        try:
            if custom is None:
                kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            else:
                custom.validate(document)
                # The CRD leaves metadata open; the API server checks it as any object's metadata.
                kubernetes_validate.validate(
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": document["metadata"]},
                    KUBERNETES_VERSION,
                    strict=True,
                )
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{where}: no schema for {document['apiVersion']} (vendor its CRD)")
        except jsonschema.ValidationError as error:
            problems.append(f"{where}: {'.'.join(map(str, error.absolute_path))}: {error.message}")
    assert rendered[kustomization], f"{kustomization} renders nothing"
    assert not problems, f"{kustomization}:\n" + "\n".join(problems)


def test_strict_crd_validation_rejects_an_unknown_field(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The CRD check is as strict as the Kubernetes one: a misspelt field fails instead of being pruned."""
    service = next(document for document in rendered["kserve/base"] if document["kind"] == "InferenceService")
    misspelt = copy.deepcopy(service)
    misspelt["spec"]["predictor"]["minReplica"] = misspelt["spec"]["predictor"].pop("minReplicas")
    validator = crd_validators()[(service["apiVersion"], service["kind"])]
    validator.validate(service)
    with pytest.raises(jsonschema.ValidationError, match="minReplica"):
        validator.validate(misspelt)


def test_vendored_crds_are_the_pinned_release() -> None:
    """The vendored files are KServe v0.20.0's, unmodified (deploy/kubernetes/vendor/kserve-v0.20.0/SOURCE.md)."""
    source = (KSERVE_CRDS / "SOURCE.md").read_text()
    for path in sorted(KSERVE_CRDS.glob("*.yaml")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"{digest}  {path.name}" in source, f"{path.name} differs from the checksum in SOURCE.md"
    assert {path.name for path in KSERVE_CRDS.glob("*.yaml")} == {
        "serving.kserve.io_inferenceservices.yaml",
        "serving.kserve.io_servingruntimes.yaml",
    }


def test_kubernetes_version_has_schemas() -> None:
    assert (
        Path(kubernetes_validate.__file__)
        .parent.joinpath("kubernetes-json-schema", f"v{KUBERNETES_VERSION}-local-strict")
        .is_dir()
    )
