"""The Open Inference Protocol (KServe V2, Triton's HTTP/REST API): request to rows, inference to response.

The model takes one input tensor, ``features``: shape ``[n, n_features]`` in the manifest's feature order,
FP64, FP32, FP16 or any integer type, its ``data`` flat or nested in row-major order, or sent in binary after
the JSON (the binary tensor data extension: the ``Inference-Header-Content-Length`` header gives the JSON's
length, each binary input's ``parameters.binary_data_size`` its byte count, little-endian). It answers
``probabilities`` (FP64 ``[n, n_classes]``, columns in class order) and ``label`` (BYTES ``[n]``, the class
name), then, for a model with training statistics, ``out_of_distribution_score`` (FP64 ``[n]``) and
``out_of_distribution_flagged`` (BOOL ``[n]``), plus any optional per-row output of the data plane; each in
JSON or, when asked with the output's ``binary_data`` or the request's ``binary_data_output`` parameter, in
binary.

Everything the specification leaves to the server is strict here: every framing mismatch, datatype, shape,
non-finite or out-of-range value is refused with a message that names it (the HTTP layer answers 400).
Fields the request object does not define are ignored (KServe's client sends ``model_name``).
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from itertools import chain
from typing import Any, Final

import numpy as np
import orjson
from numpy.typing import NDArray

from service.dataplane import DataPlane, Inference, ServedModel
from service.errors import InvalidInputError, MalformedBodyError, safe_text
from service.protocols.numbers import NUMBER_BYTES, WHITESPACE, parse_numbers
from service.protocols.problems import duplicate_key_details

INPUT: Final = "features"
PROBABILITIES: Final = "probabilities"
LABEL: Final = "label"
OOD_SCORE: Final = "out_of_distribution_score"
OOD_FLAGGED: Final = "out_of_distribution_flagged"
"""Every row's out-of-distribution score and flag (score above 1), for models that hold training statistics."""
HEADER_LENGTH: Final = "inference-header-content-length"
PLATFORM: Final = "numpy"

DATATYPES: Final[dict[str, np.dtype[Any]]] = {
    name: np.dtype(code)
    for name, code in {
        "FP64": "<f8",
        "FP32": "<f4",
        "FP16": "<f2",
        "INT8": "i1",
        "INT16": "<i2",
        "INT32": "<i4",
        "INT64": "<i8",
        "UINT8": "u1",
        "UINT16": "<u2",
        "UINT32": "<u4",
        "UINT64": "<u8",
    }.items()
}
"""Input datatypes accepted, with their little-endian layout in binary data."""
_OUTPUT_DATATYPES: Final = {"f": "FP64", "b": "BOOL", "i": "INT64", "u": "UINT64"}
_SMALL: Final = 256
"""Up to this many values, their JSON types are checked one by one; above, on the raw bytes (see ``_numbers_only``)."""
_NUMERIC: Final = b"0123456789+-.eE,[] \t\r\n"
"""The bytes JSON numbers, and arrays of them, are written with."""
_MAX_LISTED: Final = 5
"""Offending rows named in one out-of-range message."""
_SPLIT_MIN_BYTES: Final = 2048
"""Smaller requests are parsed whole: parsing their data apart (``V2Codec.split``) saves nothing."""
_DATA_VALUE: Final = re.compile(rb'"data"[ \t\r\n]*:[ \t\r\n]*\[')
_FLOAT_DATATYPES: Final = frozenset({"FP64", "FP32", "FP16"})


class V2InputError(InvalidInputError):
    code = "invalid_inference_request"


def _fail(message: str) -> V2InputError:
    return V2InputError(message)


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A decoded inference request: the validated rows, the request id and the outputs to answer."""

    rows: NDArray[np.float64]
    id: str | None
    outputs: tuple[RequestedOutput, ...] | None
    """None: every output, the data plane's optional ones included, in binary if ``binary_output``."""
    binary_output: bool


@dataclass(frozen=True, slots=True)
class Encoded:
    """A response body, and the length of its JSON part when binary data follows it."""

    body: bytes
    header_length: int | None = None


def split_header(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """The JSON part and the binary part of a body, as ``Inference-Header-Content-Length`` says."""
    if header_length is None:
        return body, memoryview(b"")
    text = header_length.strip()
    if not text.isdigit() or not text.isascii():
        raise _fail("the Inference-Header-Content-Length header must be the byte length of the JSON part")
    length = int(text)
    if length > len(body):
        raise _fail(
            f"the Inference-Header-Content-Length header says {length} bytes of JSON, "
            f"but the body has only {len(body)} bytes"
        )
    view = memoryview(body)
    return body[:length], view[length:]


class V2Codec:
    """The Open Inference Protocol for one model: its metadata, and requests decoded to rows and back."""

    def __init__(self, served: ServedModel) -> None:
        manifest = served.runtime.manifest
        self._n_features = served.n_features
        self._max_rows = served.limits.max_batch_rows
        self._low = np.array([feature.valid_min for feature in manifest.features], dtype=np.float64)
        self._high = np.array([feature.valid_max for feature in manifest.features], dtype=np.float64)
        self._names = tuple(feature.api_name for feature in manifest.features)
        self._classes = manifest.classes
        self._label_bytes = np.array(
            [struct.pack("<I", len(name.encode())) + name.encode() for name in self._classes], dtype=object
        )
        """Each class name as a BYTES element (length-prefixed), in an object array: ``take`` picks every row's in C."""
        novelty = ((OOD_SCORE, "FP64"), (OOD_FLAGGED, "BOOL")) if served.runtime.novelty is not None else ()
        self.outputs: tuple[str, ...] = (PROBABILITIES, LABEL, *(name for name, _ in novelty))
        """The outputs a request may name, and those an answer holds when the request names none."""
        self.metadata = orjson.dumps(
            {
                "name": served.name,
                "versions": [served.version],
                "platform": PLATFORM,
                "inputs": [
                    {
                        "name": INPUT,
                        "datatype": "FP64",
                        "shape": [-1, self._n_features],
                        "parameters": {"columns": ",".join(self._names)},
                    }
                ],
                "outputs": [
                    {
                        "name": PROBABILITIES,
                        "datatype": "FP64",
                        "shape": [-1, len(self._classes)],
                        "parameters": {"columns": ",".join(self._classes)},
                    },
                    {"name": LABEL, "datatype": "BYTES", "shape": [-1]},
                    *({"name": name, "datatype": datatype, "shape": [-1]} for name, datatype in novelty),
                ],
                "parameters": {
                    "positive_class": manifest.positive_class,
                    "decision_threshold": manifest.decision_threshold,
                },
            }
        )

    # Decoding -----------------------------------------------------------------------------------------

    def decode(self, body: bytes, header_length: str | None) -> InferRequest:
        json_part, binary = split_header(body, header_length)
        split = self.split(json_part)
        if split is not None:
            document, proof = split
        else:
            try:
                document = orjson.loads(json_part)
            except orjson.JSONDecodeError as error:
                where = " (is Inference-Header-Content-Length right?)" if header_length is not None else ""
                raise MalformedBodyError(f"the inference request is not valid JSON{where}: {error}") from None
            proof = NumbersProof(json_part, document)
        if type(document) is not dict:
            raise _fail("the inference request must be a JSON object with 'inputs'")
        request_id = document.get("id")
        if request_id is not None and type(request_id) is not str:
            raise _fail("'id' must be a string")
        parameters = _parameters(document.get("parameters"), "parameters")
        binary_output = parameters.get("binary_data_output", False)
        if type(binary_output) is not bool:
            raise _fail("the 'binary_data_output' parameter must be true or false")
        inputs = document.get("inputs")
        if type(inputs) is not list or not inputs:
            raise _fail(f"'inputs' must be a non-empty array; this model takes one input, {INPUT!r}")
        if len(inputs) != 1 or type(inputs[0]) is not dict or inputs[0].get("name") != INPUT:
            names = [safe_text(item.get("name")) if type(item) is dict else "?" for item in inputs[:5]]
            raise _fail(
                f"this model takes one input, {INPUT!r} of shape [n, {self._n_features}] "
                f"(the features in the order of the model metadata); got inputs {names}"
            )
        rows, used = self._tensor(inputs[0], binary, proof)
        if used != len(binary):
            raise _fail(
                f"{len(binary)} bytes of binary data follow the JSON, but the inputs' binary_data_size "
                f"account for {used}"
            )
        self._check_values(rows, inputs[0]["datatype"])
        return InferRequest(rows, request_id, self._requested(document.get("outputs"), binary_output), binary_output)

    def split(self, json_part: bytes) -> tuple[dict[str, Any], NumbersProof] | None:
        """The request with its input's float data already parsed into a float64 array, read apart from the rest of
        the JSON, if the raw bytes prove it exact; None otherwise (the general decoding then parses the whole).

        Parsing the data into one Python float per number costs more than the model's compute on big batches. So
        the data array is cut out of the text at its ``"data"`` key, and proved on the raw bytes to be the shape's
        numbers, flat or nested as the shape: deleting the number bytes and whitespace leaves exactly the
        brackets and commas of ``n_rows * n_features`` values (no strings, literals or objects), and simdjson
        parses it as valid JSON of numbers only (``service.protocols.numbers``). The rest, with ``[]`` in place of
        the data, is parsed by orjson: ``"data"`` occurring once in it (no backslash anywhere, so no escaped key)
        and being the input's key with that ``[]`` proves the cut was at that input's data; :class:`NumbersProof`
        proves the rest holds no key twice. Only FP64, FP32 and FP16 data is read so (integer types take JSON
        integers only), and only data that fits the shape: any other request is left to the general decoding,
        which says what is wrong with it.
        """
        if len(json_part) < _SPLIT_MIN_BYTES or b"\\" in json_part:
            return None
        key = _DATA_VALUE.search(json_part)
        if key is None:
            return None
        start = key.end() - 1
        nested = json_part.startswith(b"[", start + 1)
        end = json_part.find(b"]]" if nested else b"]", start) + (2 if nested else 1)
        if end <= start + 1:
            return None
        rest = json_part[:start] + b"[]" + json_part[end:]
        if rest.count(b'"data"') != 1:
            return None
        try:
            document = orjson.loads(rest)
        except orjson.JSONDecodeError:
            return None
        spec = self._float_input(document)
        if spec is None:
            return None
        n_rows = spec["shape"][0]
        data = json_part[start:end]
        skeleton = data.translate(None, NUMBER_BYTES + WHITESPACE)
        row = b"[" + b"," * (self._n_features - 1) + b"]"
        expected = (
            b"[" + b",".join([row] * n_rows) + b"]" if nested else b"[" + b"," * (n_rows * self._n_features - 1) + b"]"
        )
        proof = NumbersProof(rest, document)
        if skeleton != expected or not proof.numbers_only:
            return None
        values = parse_numbers(data)
        if values is None or values.size != n_rows * self._n_features:
            return None
        spec["data"] = values
        return document, proof

    def _float_input(self, document: Any) -> dict[str, Any] | None:
        """The one input of ``document``, if its data is empty, its datatype a float and its shape valid."""
        inputs = document.get("inputs") if type(document) is dict else None
        if type(inputs) is not list or len(inputs) != 1 or type(inputs[0]) is not dict:
            return None
        spec: dict[str, Any] = inputs[0]
        shape = spec.get("shape")
        if (
            spec.get("data") != []
            or spec.get("datatype") not in _FLOAT_DATATYPES
            or type(shape) is not list
            or len(shape) != 2
            or type(shape[0]) is not int
            or type(shape[1]) is not int
            or shape[1] != self._n_features
            or not 1 <= shape[0] <= self._max_rows
        ):
            return None
        return spec

    def _tensor(self, spec: dict[str, Any], binary: memoryview, proof: NumbersProof) -> tuple[NDArray[np.float64], int]:
        """The rows of the input tensor, checked, as float64; and how many binary bytes it used."""
        where = f"input {INPUT!r}"
        datatype = spec.get("datatype")
        dtype = DATATYPES.get(datatype) if type(datatype) is str else None
        if dtype is None or type(datatype) is not str:
            raise _fail(
                f"{where}: datatype {safe_text(datatype)!r} is not accepted; send FP64, FP32, FP16 or an integer type"
            )
        shape = spec.get("shape")
        if (
            type(shape) is not list
            or len(shape) != 2
            or any(type(dim) is not int for dim in shape)
            or shape[1] != self._n_features
        ):
            raise _fail(f"{where}: shape must be [n, {self._n_features}] (n rows of the features); got {_show(shape)}")
        n_rows = shape[0]
        if not 1 <= n_rows <= self._max_rows:
            raise _fail(f"{where}: send 1 to {self._max_rows} rows per request; the shape says {n_rows}")
        parameters = _parameters(spec.get("parameters"), f"{where} parameters")
        if any(key.startswith("shared_memory") for key in parameters):
            raise _fail(f"{where}: shared memory is not supported; send the data in the request")
        size = parameters.get("binary_data_size")
        count = n_rows * self._n_features
        if size is not None:
            if "data" in spec:
                raise _fail(f"{where}: has both 'data' and a binary_data_size; send one of them")
            if type(size) is not int or size < 0:
                raise _fail(f"{where}: binary_data_size must be a byte count")
            expected = count * dtype.itemsize
            if size != expected:
                raise _fail(
                    f"{where}: binary_data_size is {size} bytes, but shape {shape} of {datatype} takes {expected}"
                )
            if size > len(binary):
                raise _fail(f"{where}: binary_data_size is {size} bytes, but only {len(binary)} bytes follow the JSON")
            values = np.frombuffer(binary, dtype=dtype, count=count)
            used = size
            proof.check_duplicates()
        else:
            values = self._json_values(spec.get("data"), n_rows, dtype, proof, where)
            used = 0
        rows = np.ascontiguousarray(values.reshape(n_rows, self._n_features), dtype=np.float64)  # widening: exact
        return rows, used

    def _json_values(
        self, data: Any, n_rows: int, dtype: np.dtype[Any], proof: NumbersProof, where: str
    ) -> NDArray[Any]:
        if type(data) is np.ndarray:  # parsed apart, as the shape says (``split``)
            with np.errstate(over="ignore"):  # too large for FP32 or FP16: infinity, refused as not finite
                return data.astype(dtype, copy=False)
        if type(data) is not list:
            raise _fail(f"{where}: 'data' must be an array (or send the tensor in binary with binary_data_size)")
        count = n_rows * self._n_features
        if data and type(data[0]) is list:  # nested as the shape: [[row], [row], ...]
            if len(data) != n_rows or any(type(row) is not list or len(row) != self._n_features for row in data):
                raise _fail(
                    f"{where}: nested 'data' must be {n_rows} arrays of {self._n_features} numbers, as the shape "
                    "says (or one flat array in row-major order)"
                )
        elif len(data) != count:
            raise _fail(
                f"{where}: 'data' has {len(data)} values, but shape [{n_rows}, {self._n_features}] takes {count}"
            )
        integer = dtype.kind in "iu"
        if count > _SMALL and not integer and proof.numbers_only:
            try:
                values = data if type(data[0]) is not list else chain.from_iterable(data)
                with np.errstate(over="ignore"):  # too large for FP32 or FP16: infinity, refused as not finite
                    return np.fromiter(values, dtype=np.float64, count=count).astype(dtype, copy=False)
            except (ValueError, TypeError):
                pass  # something nested or not a number after all: the exact check below says what
        flat = data if type(data[0]) is not list else [value for row in data for value in row]
        kinds = set(map(type, flat))
        allowed = {int} if integer else {int, float}
        if not kinds <= allowed:
            bad = sorted(kind.__name__ for kind in kinds - allowed)
            wanted = "integers" if integer else "numbers"
            raise _fail(f"{where}: 'data' must hold JSON {wanted} only; found {', '.join(bad)}")
        if not proof.numbers_only:
            proof.check_duplicates()
        try:
            if dtype.itemsize < 8 and not integer:
                with np.errstate(over="ignore"):
                    return np.array(flat, dtype=dtype)
            return np.array(flat, dtype=dtype)
        except OverflowError:
            info = np.iinfo(dtype)
            raise _fail(f"{where}: a value is outside the range of its datatype ({info.min} to {info.max})") from None

    def _check_values(self, rows: NDArray[np.float64], datatype: str) -> None:
        if ((rows >= self._low) & (rows <= self._high)).all():  # NaN compares false: refused below
            return
        where = f"input {INPUT!r}"
        finite = np.isfinite(rows)
        if not finite.all():
            row, column = (int(index[0]) for index in np.nonzero(~finite))
            raise _fail(
                f"{where}: row {row}, {self._names[column]!r}: values must be finite numbers "
                f"(NaN, Infinity and values too large for {datatype} are not accepted)"
            )
        outside = (rows < self._low) | (rows > self._high)
        if outside.any():
            bad_rows, bad_columns = np.nonzero(outside)
            problems = [
                f"row {row}, {self._names[column]!r} must be between {_round(self._low[column])} and "
                f"{_round(self._high[column])}"
                for row, column in zip(bad_rows[:_MAX_LISTED].tolist(), bad_columns[:_MAX_LISTED].tolist(), strict=True)
            ]
            more = f" and {len(bad_rows) - _MAX_LISTED} more" if len(bad_rows) > _MAX_LISTED else ""
            raise _fail(f"{where}: values out of the model's valid range: {'; '.join(problems)}{more}")

    def _requested(self, outputs: Any, binary_output: bool) -> tuple[RequestedOutput, ...] | None:
        if outputs is None:
            return None
        if type(outputs) is not list:
            raise _fail("'outputs' must be an array of {'name': ...} objects")
        requested: list[RequestedOutput] = []
        for index, output in enumerate(outputs):
            name = output.get("name") if type(output) is dict else None
            if name not in self.outputs:
                raise _fail(
                    f"outputs[{index}]: unknown output {safe_text(name)!r}; this model has {list(self.outputs)}"
                )
            if any(item.name == name for item in requested):
                raise _fail(f"outputs[{index}]: output {name!r} is requested twice")
            parameters = _parameters(output.get("parameters"), f"output {name!r} parameters")
            if "classification" in parameters:
                raise _fail(f"output {name!r}: the classification extension is not supported; read 'label'")
            if any(key.startswith("shared_memory") for key in parameters):
                raise _fail(f"output {name!r}: shared memory is not supported")
            binary = parameters.get("binary_data", binary_output)
            if type(binary) is not bool:
                raise _fail(f"output {name!r}: the 'binary_data' parameter must be true or false")
            requested.append(RequestedOutput(name, binary))
        return tuple(requested)

    # Encoding -----------------------------------------------------------------------------------------

    def encode(self, request: InferRequest, inference: Inference) -> Encoded:
        """The response: outputs in the order requested, each in JSON or binary as requested."""
        outputs: list[dict[str, Any]] = []
        chunks: list[bytes] = []
        n_rows = inference.n_rows
        requested = request.outputs
        if requested is None:
            names = (*self.outputs, *inference.extras)
            requested = tuple(RequestedOutput(name, request.binary_output) for name in names)
        for output in requested:
            tensor: dict[str, Any]
            if output.name == PROBABILITIES:
                tensor = {"name": PROBABILITIES, "datatype": "FP64", "shape": list(inference.probabilities.shape)}
                values: Any = inference.probabilities
            elif output.name == LABEL:
                tensor = {"name": LABEL, "datatype": "BYTES", "shape": [n_rows]}
                values = inference.label_indices
            else:
                values = _row_values(inference, output.name)
                datatype = _OUTPUT_DATATYPES[values.dtype.kind]
                tensor = {"name": output.name, "datatype": datatype, "shape": list(values.shape)}
            if output.binary:
                raw = self._raw(output.name, values)
                tensor["parameters"] = {"binary_data_size": len(raw)}
                chunks.append(raw)
            elif output.name == LABEL:
                classes = self._classes
                tensor["data"] = [classes[index] for index in values.tolist()]
            else:
                tensor["data"] = values.ravel()
            outputs.append(tensor)
        head: dict[str, Any] = {"model_name": inference.model_name, "model_version": inference.model_version}
        if request.id is not None:
            head["id"] = request.id
        head["outputs"] = outputs
        header = orjson.dumps(head, option=orjson.OPT_SERIALIZE_NUMPY)
        if not chunks:
            return Encoded(header)
        return Encoded(b"".join((header, *chunks)), len(header))

    def _raw(self, name: str, values: NDArray[Any]) -> bytes:
        if name == LABEL:
            return b"".join(self._label_bytes.take(values).tolist())
        kind = values.dtype.kind
        layout = "<f8" if kind == "f" else "?" if kind == "b" else "<i8" if kind == "i" else "<u8"
        return np.ascontiguousarray(values, dtype=layout).tobytes()


def _row_values(inference: Inference, name: str) -> NDArray[Any]:
    """An output of one value per row besides the probabilities and labels (the codec offers the
    out-of-distribution outputs only for a model that computes them)."""
    novelty = inference.novelty
    if novelty is not None and name == OOD_SCORE:
        return novelty.score
    if novelty is not None and name == OOD_FLAGGED:
        return novelty.flagged
    return inference.extras[name]


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise _fail(f"{where} must be an object")
    return value


class NumbersProof:
    """Whether the tensor data holds nothing but numbers, proved on the raw bytes at C speed.

    Numbers, commas and brackets are all the data may consist of; deleting those bytes from the body must
    leave exactly what deleting them from the JSON orjson writes for the document with empty data (or without
    data, for a binary input) leaves.
    That also proves no key appears twice (parsers keep the last of duplicate keys, silently). Bodies with an
    escape are never proved, as a ``\\u`` escape may hide a quote (looking for a backslash is a ``memchr``;
    looking for ``\\u`` costs as much as the rest of the proof).
    """

    def __init__(self, json_part: bytes, document: dict[str, Any]) -> None:
        self._json_part = json_part
        self._document = document
        self._proved: bool | None = None

    @property
    def numbers_only(self) -> bool:
        if self._proved is None:
            self._proved = self._prove()
        return self._proved

    def _prove(self) -> bool:
        if b"\\" in self._json_part:
            return False
        document = dict(self._document)
        spec = document["inputs"][0]
        if "data" in spec:  # a binary input has none: its document is proved as it is
            document["inputs"] = [spec | {"data": []}]
        rest = orjson.dumps(document)
        return self._json_part.translate(None, _NUMERIC) == rest.translate(None, _NUMERIC)

    def check_duplicates(self) -> None:
        """Refuse a document with a key twice in one object (called only when the proof does not hold)."""
        if self.numbers_only:
            return
        try:
            duplicates = duplicate_key_details(self._json_part)
        except RecursionError:
            raise _fail("the inference request is nested too deeply") from None
        if duplicates:
            raise _fail("; ".join(detail.msg for detail in duplicates[:_MAX_LISTED]))


def _show(value: Any) -> str:
    return safe_text(orjson.dumps(value, default=str).decode(), 80)


def _round(value: float) -> str:
    return f"{value:.6g}" if math.isfinite(value) else str(value)


def v2_codec(served: ServedModel) -> V2Codec:
    """Built once per model (``served.derived(v2_codec)``)."""
    return V2Codec(served)


def infer_body(dataplane: DataPlane, served: ServedModel, body: bytes, header_length: str | None) -> Encoded:
    """Decode an inference request, predict its rows in one pass, encode the response."""
    codec = served.derived(v2_codec)
    request = codec.decode(body, header_length)
    return codec.encode(request, dataplane.infer(served, request.rows))
