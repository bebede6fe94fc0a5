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
from operator import getitem

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
        # ',"out_of_distribution":{"score":' ... ',"flagged":false,"feature":"mean_radius"}', by flag and feature
        self._ood_tails = tuple(
            [b',"flagged":' + flag + b',"feature":' + _json(feature.api_name) + b"}" for feature in manifest.features]
            for flag in (b"false", b"true")
        )
        self._explanations = ExplanationEncoder(manifest)
        self._single_tail = b',"model_version":' + _json(manifest.model_version) + b"}"
        self._batch_tail = b'],"model_version":' + _json(manifest.model_version) + b"}"

    def encode(self, inference: Inference, *, batch: bool) -> bytes:
        if inference.n_rows == 1 and inference.explanation is None and not inference.extras:
            item = self._one_object(inference)
            return b'{"predictions":[' + item + b"}" + self._batch_tail if batch else item + self._single_tail
        row = _RowLayout()
        self._standard(row, inference.probabilities, inference.label_indices)
        if inference.novelty is not None:
            self._novelty(row, inference.novelty)
        if inference.explanation is not None:
            row.constant(b',"explanation":')
            row.column(list(map(orjson.dumps, self._explanations.objects(inference.explanation))))
        for name, values in inference.extras.items():  # optional per-row outputs, after the standard ones
            row.constant(b"," + _json(name) + b":")
            row.column([orjson.dumps(value, option=_NUMPY) for value in values])
        if not batch:  # one record's answer: the first row's object
            row.constant(self._single_tail)
            return b"".join(row.pieces(inference.n_rows)[: row.width])
        row.constant(b"},")
        pieces = row.pieces(inference.n_rows)
        pieces[-1] = pieces[-1][:-1]  # no comma after the last object
        return b'{"predictions":[' + b"".join(pieces) + self._batch_tail

    def encode_explanations(self, inference: Inference) -> bytes:
        """KServe V1's ``:explain`` answer: the batch answer of :meth:`encode`, with the explanations beside the
        predictions (``"explanations": [...]``, row-aligned) instead of inside them."""
        if inference.explanation is None:
            raise ValueError("the inference holds no explanation")
        predictions = self.encode(replace(inference, explanation=None), batch=True)
        explanations = orjson.dumps(self._explanations.objects(inference.explanation))
        return predictions[:-1] + b',"explanations":' + explanations + b"}"

    def _one_object(self, inference: Inference) -> bytes:
        """One row's object without its closing brace, as :meth:`encode` writes it for many rows: the numbers
        written by one ``orjson.dumps`` of Python floats (the text it writes for NumPy's), the rest fixed texts."""
        probabilities = inference.probabilities[0].tolist()
        novelty = inference.novelty
        numbers = probabilities if novelty is None else [*probabilities, float(novelty.score[0])]
        texts = orjson.dumps(numbers)[1:-1].split(b",")
        pieces = [self._heads[int(inference.label_indices[0])], texts[self._positive]]
        for key, text in zip(self._class_keys, texts, strict=False):
            pieces += (key, text)
        pieces.append(b"}")
        if novelty is not None:
            tails = self._ood_tails[numbers[-1] > 1.0]  # flagged above 1, as NoveltyScores.flagged
            pieces += (b',"out_of_distribution":{"score":', texts[-1], tails[int(novelty.feature_index[0])])
        return b"".join(pieces)

    def _standard(self, row: _RowLayout, probabilities: NDArray[np.float64], labels: NDArray[np.intp]) -> None:
        columns = [_column_texts(probabilities[:, index]) for index in range(self._n_classes)]
        row.column(list(map(self._heads.__getitem__, labels.tolist())))
        row.column(columns[self._positive])
        for key, texts in zip(self._class_keys, columns, strict=True):
            row.constant(key)
            row.column(texts)
        row.constant(b"}")

    def _novelty(self, row: _RowLayout, novelty: NoveltyScores) -> None:
        row.constant(b',"out_of_distribution":{"score":')
        row.column(_column_texts(novelty.score))
        by_flag = map(self._ood_tails.__getitem__, novelty.flagged.tolist())
        row.column(list(map(getitem, by_flag, novelty.feature_index.tolist())))


class _RowLayout:
    """One row's JSON as pieces: fixed texts, and columns that give each row its own text.

    The answer is then one list of pieces for all the rows, built by repeating the row's pieces and assigning
    each column to its slice (loops in C, where concatenating each row's pieces in Python costs more than the
    model itself on big batches), and joined once.
    """

    def __init__(self) -> None:
        self._template: list[bytes] = []
        self._columns: list[tuple[int, list[bytes]]] = []
        self._open = False
        """Whether the template ends with a fixed text that the next one extends."""

    def constant(self, text: bytes) -> None:
        if self._open:
            self._template[-1] += text
        else:
            self._template.append(text)
            self._open = True

    def column(self, texts: list[bytes]) -> None:
        self._columns.append((len(self._template), texts))
        self._template.append(b"")
        self._open = False

    @property
    def width(self) -> int:
        """Pieces per row."""
        return len(self._template)

    def pieces(self, n_rows: int) -> list[bytes]:
        width = len(self._template)
        pieces = self._template * n_rows
        for offset, texts in self._columns:
            pieces[offset::width] = texts
        return pieces


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
