"""KServe V1: ``{"instances": [record, ...]}`` in, ``{"predictions": [...], "model_version": ...}`` out; ``:explain``
adds ``"explanations": [...]`` (one per record, as /predict?explain=true puts them inside the predictions).

The records and the predictions are those of /predict's batch form (``service.protocols.predict``): each
record an array of the feature values in order or an object keyed by the feature names.
"""

from __future__ import annotations

import numpy as np
import orjson
from numpy.typing import NDArray

from service.dataplane import DataPlane, ServedModel
from service.errors import ErrorDetail, InvalidInputError
from service.protocols.predict import RecordCodec, record_codec
from service.protocols.schemas import BATCH_KEY


def predict_body(dataplane: DataPlane, served: ServedModel, body: bytes) -> bytes:
    """Validate a V1 predict body, predict every record in one pass, encode the answer."""
    codec = served.derived(record_codec)
    matrix = _batch_matrix(codec, body)
    return codec.encoder.encode(dataplane.infer(served, matrix), batch=True)


def explain_body(dataplane: DataPlane, served: ServedModel, body: bytes) -> bytes:
    """Validate a V1 explain body, predict and explain every record; ``{"predictions", "explanations", ...}``."""
    codec = served.derived(record_codec)
    matrix = _batch_matrix(codec, body)
    return codec.encoder.encode_explanations(dataplane.infer(served, matrix, explain=True))


def _batch_matrix(codec: RecordCodec, body: bytes) -> NDArray[np.float64]:
    try:
        decoded = codec.decoder.decode(body)
    except InvalidInputError:
        if not _is_batch(body):  # say what V1 takes rather than what is wrong with a lone record
            raise _not_a_batch() from None
        raise
    if not decoded.batch:
        raise _not_a_batch()
    return decoded.matrix


def _not_a_batch() -> InvalidInputError:
    return InvalidInputError(
        f'KServe V1 takes {{"{BATCH_KEY}": [record, ...]}}',
        [ErrorDetail((), f"wrap the records in {{{BATCH_KEY!r}: [...]}}", "not_a_batch")],
    )


def _is_batch(body: bytes) -> bool:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return True  # not JSON at all: the decoder's own error says so
    return isinstance(document, dict) and BATCH_KEY in document
