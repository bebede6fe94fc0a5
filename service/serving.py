"""What the routes serve: a runtime with its request decoder and response encoder, behind a swappable slot."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from neuralnet.artifacts import (
    AlteredArtifactError,
    ArtifactError,
    ForbiddenArtifactError,
    IncompatibleArtifactError,
    MissingArtifactError,
)
from service.decoding import RequestDecoder
from service.encoding import PredictionEncoder
from service.errors import ErrorDetail, ModelNotReadyError
from service.examples import request_examples
from service.metrics import Metrics
from service.responses import dump_json
from service.runtime import ModelRuntime
from service.schemas import FeatureInfo, Limits, MetadataResponse, RequestSchemas, build_request_schemas

logger = logging.getLogger("service.model")


@dataclass(frozen=True, slots=True)
class PredictOutcome:
    body: bytes
    label_counts: NDArray[np.intp]
    """Rows predicted per class, in the manifest's class order."""


@dataclass(frozen=True, slots=True)
class ServedModel:
    """Everything built once per loaded model. Immutable, so requests never see a half-swapped model."""

    runtime: ModelRuntime
    schemas: RequestSchemas
    decoder: RequestDecoder
    encoder: PredictionEncoder
    metadata: bytes

    @classmethod
    def build(cls, runtime: ModelRuntime, *, max_batch_rows: int, max_body_bytes: int) -> ServedModel:
        manifest = runtime.manifest
        schemas = build_request_schemas(manifest, max_batch_rows)
        metadata = MetadataResponse(
            model_version=manifest.model_version,
            created_at=manifest.created_at,
            preset=manifest.preset,
            classes=list(manifest.classes),
            positive_class=manifest.positive_class,
            decision_threshold=manifest.decision_threshold,
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
            limits=Limits(max_batch_rows=max_batch_rows, max_body_bytes=max_body_bytes),
        )
        return cls(
            runtime=runtime,
            schemas=schemas,
            decoder=RequestDecoder(manifest, schemas, max_batch_rows),
            encoder=PredictionEncoder(manifest),
            metadata=dump_json(metadata.model_dump(mode="python")),
        )

    @property
    def version(self) -> str:
        return self.runtime.version

    def predict_body(self, body: bytes) -> PredictOutcome:
        """Validate a /predict body, predict every row in one pass, encode the answer."""
        decoded = self.decoder.decode(body)
        prediction = self.runtime.predict(decoded.matrix)
        counts = np.bincount(prediction.label_indices, minlength=len(self.runtime.classes))
        return PredictOutcome(self.encoder.encode(prediction, batch=decoded.batch), counts)

    def openapi_examples(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Request examples and the responses this very model gives to them."""
        requests = request_examples(self.runtime.manifest)
        responses = {
            key: {
                "summary": example["summary"],
                "value": orjson.loads(self.predict_body(orjson.dumps(example["value"])).body),
            }
            for key, example in requests.items()
        }
        return requests, responses


_REASONS: tuple[tuple[type[ArtifactError], str], ...] = (
    (MissingArtifactError, "missing"),
    (AlteredArtifactError, "altered"),
    (IncompatibleArtifactError, "incompatible"),
    (ForbiddenArtifactError, "forbidden"),
)


class ModelSlot:
    """Holds the served model, or why there is none. Loading builds a new model and swaps it in atomically."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._served: ServedModel | None = None
        self._reason = ErrorDetail(("model",), "the model has not been loaded yet", "not_loaded")

    @property
    def served(self) -> ServedModel | None:
        return self._served

    def require(self) -> ServedModel:
        served = self._served
        if served is None:
            raise ModelNotReadyError(f"no model is loaded: {self._reason.msg}", [self._reason])
        return served

    def load(self, directory: Path, *, max_batch_rows: int, max_body_bytes: int) -> bool:
        """Load ``directory``; on failure log one line, count it and keep serving what was there (if anything)."""
        try:
            runtime = ModelRuntime.load(directory)
            served = ServedModel.build(runtime, max_batch_rows=max_batch_rows, max_body_bytes=max_body_bytes)
        except ArtifactError as error:
            reason = next((name for kind, name in _REASONS if isinstance(error, kind)), "invalid")
            return self._failed(directory, reason, str(error))
        except Exception as error:  # a bug or an unreadable file: still one line, never a crash loop
            return self._failed(directory, "error", f"{type(error).__name__}: {error}")
        self._served = served
        self._metrics.model_loaded(served.version)
        logger.info(
            "model loaded",
            extra={"model_version": served.version, "model_dir": str(directory), "event": "model_loaded"},
        )
        return True

    def _failed(self, directory: Path, reason: str, message: str) -> bool:
        self._metrics.load_failed(reason)
        if self._served is None:
            self._reason = ErrorDetail(("model",), message, reason)
            self._metrics.model_loaded(None)
        logger.error(
            "model not loaded (%s): %s",
            reason,
            message,
            extra={"model_dir": str(directory), "reason": reason, "event": "model_load_failed"},
        )
        return False
