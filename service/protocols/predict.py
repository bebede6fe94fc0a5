"""The /predict format (also KServe V1's): validated records in, one object per record out.

:func:`record_codec` builds, once per model, the decoder (``service.protocols.records``) and the encoder.
Each record's object is ``{"label", "probability_<positive class>", "probabilities": {class: p},
"out_of_distribution": {"score", "flagged", "feature"}}``, and ``"explanation"`` when the request asked for one
(``service.protocols.explanations``); a single record's object also names the model version, and a batch
answers ``{"predictions": [...], "model_version"}`` (KServe v1). Clients that read only the first keys are
unaffected by the later ones. Building one dict per row costs more than the model itself on big batches, so the
numbers are written by orjson straight from the NumPy columns (the same shortest round-trip text it writes for Python
floats) and stitched into fixed fragments that were JSON-encoded once, when the model was loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import orjson
from numpy.typing import NDArray

from neuralnet.artifacts import Manifest
from neuralnet.novelty import NoveltyScores
from service.dataplane import DataPlane, Inference, ServedModel
from service.protocols.explanations import ExplanationEncoder
from service.protocols.records import RequestDecoder
from service.protocols.schemas import RequestSchemas, build_request_schemas, probability_key

_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def _json(value: str) -> bytes:
    return orjson.dumps(value)


class PredictionEncoder:
    def __init__(self, manifest: Manifest) -> None:
        self._positive = manifest.positive_class_index
        self._n_classes = len(manifest.classes)
        key = _json(probability_key(manifest.positive_class))
        # '{"label":"benign","probability_malignant":' for each label, by class index
        self._heads = [b'{"label":' + _json(name) + b"," + key + b":" for name in manifest.classes]
        # ',"probabilities":{"malignant":', ',"benign":' ...
        self._class_keys = [
            (b',"probabilities":{' if index == 0 else b",") + _json(name) + b":"
            for index, name in enumerate(manifest.classes)
        ]
        # ',"out_of_distribution":{"score":' ... ',"flagged":false,"feature":"mean_radius"}' by feature index
        self._ood_features = [b',"feature":' + _json(feature.api_name) + b"}" for feature in manifest.features]
        self._explanations = ExplanationEncoder(manifest)
        self._single_tail = b',"model_version":' + _json(manifest.model_version) + b"}"
        self._batch_tail = b'],"model_version":' + _json(manifest.model_version) + b"}"

    def encode(self, inference: Inference, *, batch: bool) -> bytes:
        rows = self._rows(inference.probabilities, inference.label_indices)
        if inference.novelty is not None:
            rows = self._with_novelty(rows, inference.novelty)
        if inference.explanation is not None:
            objects = self._explanations.objects(inference.explanation)
            rows = [row + b',"explanation":' + orjson.dumps(value) for row, value in zip(rows, objects, strict=True)]
        for name, values in inference.extras.items():  # optional per-row outputs, after the standard ones
            key = b"," + _json(name) + b":"
            rows = [row + key + orjson.dumps(value, option=_NUMPY) for row, value in zip(rows, values, strict=True)]
        if batch:
            return b'{"predictions":[' + b"},".join(rows) + b"}" + self._batch_tail
        return rows[0] + self._single_tail

    def _rows(self, probabilities: NDArray[np.float64], labels: NDArray[np.intp]) -> list[bytes]:
        """Each row's object without its closing brace."""
        columns = [_column_texts(probabilities[:, index]) for index in range(self._n_classes)]
        heads = [self._heads[label] for label in labels.tolist()]
        positive = columns[self._positive]
        if self._n_classes == 2:
            key_0, key_1 = self._class_keys
            return [
                head + p + key_0 + c0 + key_1 + c1 + b"}"
                for head, p, c0, c1 in zip(heads, positive, columns[0], columns[1], strict=True)
            ]
        keys = self._class_keys
        return [
            head + p + b"".join(map(bytes.__add__, keys, values)) + b"}"
            for head, p, values in zip(heads, positive, zip(*columns, strict=True), strict=True)
        ]

    def encode_explanations(self, inference: Inference) -> bytes:
        """KServe V1's ``:explain`` answer: the batch answer of :meth:`encode`, with the explanations beside the
        predictions (``"explanations": [...]``, row-aligned) instead of inside them."""
        if inference.explanation is None:
            raise ValueError("the inference holds no explanation")
        predictions = self.encode(replace(inference, explanation=None), batch=True)
        explanations = orjson.dumps(self._explanations.objects(inference.explanation))
        return predictions[:-1] + b',"explanations":' + explanations + b"}"

    def _with_novelty(self, rows: list[bytes], novelty: NoveltyScores) -> list[bytes]:
        flags = [b',"flagged":true' if flagged else b',"flagged":false' for flagged in novelty.flagged.tolist()]
        features = [self._ood_features[index] for index in novelty.feature_index.tolist()]
        return [
            row + b',"out_of_distribution":{"score":' + score + flag + feature
            for row, score, flag, feature in zip(rows, _column_texts(novelty.score), flags, features, strict=True)
        ]


def _column_texts(column: NDArray[np.float64]) -> list[bytes]:
    """The JSON text of each value of a float64 column (finite: the runtime checked)."""
    return orjson.dumps(np.ascontiguousarray(column), option=_NUMPY)[1:-1].split(b",")


@dataclass(frozen=True, slots=True)
class RecordCodec:
    """The request schemas, decoder and encoder of the record formats for one model."""

    schemas: RequestSchemas
    decoder: RequestDecoder
    encoder: PredictionEncoder


def record_codec(served: ServedModel) -> RecordCodec:
    """Built once per model (``served.derived(record_codec)``)."""
    manifest = served.runtime.manifest
    max_rows = served.limits.max_batch_rows
    schemas = build_request_schemas(manifest, max_rows)
    return RecordCodec(schemas, RequestDecoder(manifest, schemas, max_rows), PredictionEncoder(manifest))


def predict_body(dataplane: DataPlane, served: ServedModel, body: bytes, *, explain: bool = False) -> bytes:
    """Validate a /predict body, predict every row in one pass (explained if asked), encode the answer."""
    codec = served.derived(record_codec)
    decoded = codec.decoder.decode(body)
    return codec.encoder.encode(dataplane.infer(served, decoded.matrix, explain=explain), batch=decoded.batch)
