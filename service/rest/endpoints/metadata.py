"""GET /metadata: what the served model is, expects and was measured to do."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from neuralnet.artifacts import MODEL_CARD_JSON_FILE
from service.dataplane import ServedModel
from service.rest.context import ServedModelDep
from service.rest.endpoints.model_card import MODEL_CARD_PATH
from service.rest.responses import JSONBytesResponse, dump_json
from service.rest.schemas import ErrorResponse, FeatureInfo, LimitsInfo, MetadataResponse, OutOfDistributionInfo

router = APIRouter(tags=["model"])


def metadata_document(served: ServedModel) -> bytes:
    """The /metadata body, built once per model (``served.derived(metadata_document)``)."""
    manifest = served.runtime.manifest
    document = MetadataResponse(
        model_version=manifest.model_version,
        created_at=manifest.created_at,
        preset=manifest.preset,
        classes=list(manifest.classes),
        positive_class=manifest.positive_class,
        decision_threshold=manifest.decision_threshold,
        threshold_selection=manifest.threshold_selection,
        out_of_distribution=_out_of_distribution(served),
        model_card=MODEL_CARD_PATH if MODEL_CARD_JSON_FILE in served.runtime.model_card else None,
        features=[
            FeatureInfo(
                name=feature.api_name,
                position=position,
                dataset_name=feature.name,
                valid_min=feature.valid_min,
                valid_max=feature.valid_max,
                training_min=feature.training_min,
                training_max=feature.training_max,
            )
            for position, feature in enumerate(manifest.features)
        ],
        metrics=manifest.metrics,
        artifacts=manifest.artifacts,
        library_versions=manifest.library_versions,
        training_data=manifest.training_data,
        signature=served.runtime.signature,
        limits=LimitsInfo(max_batch_rows=served.limits.max_batch_rows, max_body_bytes=served.limits.max_body_bytes),
    )
    return dump_json(document.model_dump(mode="python"))


def _out_of_distribution(served: ServedModel) -> OutOfDistributionInfo | None:
    detector = served.runtime.novelty
    if detector is None:
        return None
    distance, residual = detector.thresholds.tolist()
    return OutOfDistributionInfo(
        method="Mahalanobis distance and the largest conditional residual (a feature against what the others "
        "predict) on standardised log features, from the training rows' statistics",
        thresholds={"distance": distance, "residual": residual},
        flagged_when="score = max(distance / its threshold, residual / its threshold) > 1",
    )


@router.get(
    "/metadata",
    summary="Model version, features with valid ranges, classes, threshold, metrics, artifact hashes",
    response_model=MetadataResponse,
    response_class=JSONBytesResponse,
    responses={503: {"model": ErrorResponse, "description": "No verified model is loaded."}},
)
async def metadata(served: ServedModelDep) -> Response:
    return JSONBytesResponse(served.derived(metadata_document))
