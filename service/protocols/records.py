"""Request bodies of /predict to a float64 matrix: strict validation in one pass, precise errors otherwise.

Accepted bodies (feature names, order and ranges come from the manifest):

* one record, keyed by feature name: ``{"mean_radius": 17.99, ...}``, or by the data set's own names as
  ``load_breast_cancer(as_frame=True)`` spells them: ``{"mean radius": 17.99, ...}`` (one convention per
  request, so that a record cannot name a feature twice)
* one record as an array in the data set's order: ``[17.99, 10.38, ...]``
* a batch of records, all in one of those forms: ``{"instances": [record, ...]}`` (KServe v1)

Valid bodies take a fast path: orjson parses, and a few C-speed checks on the raw bytes prove that what it
parsed is exactly what strict validation would accept (numbers only, no duplicate keys), then NumPy checks the
shape and the valid ranges. A batch of arrays is not even parsed into rows: its structure is proved on the raw
bytes (:class:`ArrayBatch`) and its numbers parsed as one flat array.
Anything the fast path does not prove valid goes through the pydantic validators built from the manifest,
which either accept it or name every offending field (``service.problems``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any, Final, NoReturn

import numpy as np
import orjson
import pydantic_core
from numpy.typing import NDArray
from pydantic import ValidationError

from neuralnet.artifacts import Manifest
from service.errors import ErrorDetail, InvalidEncodingError, InvalidInputError, MalformedBodyError, TooManyRowsError
from service.protocols.problems import FORMS, ProblemReporter, duplicate_key_details, kind_of, summarise
from service.protocols.schemas import BATCH_KEY, RequestSchemas

_BOM: Final = b"\xef\xbb\xbf"
_NUMERIC: Final = b"0123456789+-.eE,[] \t\r\n"
"""Bytes an array-form body may consist of, besides the batch wrapper: no strings, literals or objects."""
_NUMBER_TYPES: Final = frozenset({int, float})
_SMALL_BATCH: Final = 8
"""Up to this many rows, values are checked in Python; above it, on the raw bytes and with NumPy."""
_NUMBER: Final = b"0123456789+-.eE"
"""The bytes of JSON numbers: deleting them from an array of arrays of numbers leaves its brackets and commas."""
_BRACKETS_TO_SPACES: Final = bytes.maketrans(b"[]", b"  ")
_FLAT_MIN_BYTES: Final = 2048
"""Smaller bodies skip the structure proof of :class:`ArrayBatch`: the general fast path is as quick for them."""
_ARRAY_BATCH_HEAD: Final = re.compile(rb'[ \t\r\n]*\{[ \t\r\n]*"%s"[ \t\r\n]*:[ \t\r\n]*\[' % BATCH_KEY.encode())
_OBJECT_END: Final = re.compile(rb"[ \t\r\n]*\}[ \t\r\n]*")


@dataclass(frozen=True, slots=True)
class _Naming:
    """One naming convention of the keyed form: its keys, and how to read a record's values in feature order."""

    order: tuple[str, ...]
    names: frozenset[str]
    values: Callable[[dict[str, Any]], tuple[Any, ...]]

    def columns(self, order: tuple[str, ...]) -> list[int] | None:
        """Where each feature is among values read in ``order`` (None: already in feature order)."""
        return None if order == self.order else [order.index(name) for name in self.order]


def _naming(names: tuple[str, ...]) -> _Naming:
    getter = itemgetter(*names)
    values: Callable[[dict[str, Any]], tuple[Any, ...]] = getter if len(names) > 1 else (lambda row: (getter(row),))
    return _Naming(names, frozenset(names), values)


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    """The validated rows as a C-contiguous float64 ``(n_rows, n_features)`` matrix."""

    matrix: NDArray[np.float64]
    batch: bool


class ArrayBatch:
    """The values of ``{"instances": [[number, ...], ...]}`` in row-major order, parsed without building the rows.

    Parsing a big batch into one list per row and converting those costs more than parsing the same numbers as
    one flat array. So the structure is proved on the raw bytes at C speed, and orjson parses the numbers with
    the rows' brackets taken out; every number keeps its text, so the values are exactly those of the nested
    parse. The body is proved to be ``{"instances": [ROW,ROW,...]}``, each ROW ``[number,...,number]``, by:

    * its head and tail being the wrapper (whitespace allowed there);
    * no whitespace between the rows' brackets once ``", "`` is written ``","`` (which cannot join two numbers);
      other layouts (indented JSON) are left to the general decoding;
    * deleting the number bytes leaving exactly ``[,,...,],[,,...,]...``: ``n_rows`` brackets of
      ``n_features - 1`` commas (no strings, literals, objects or deeper arrays, and every row its count of values);
    * ``],[`` occurring ``n_rows - 1`` times: every row boundary is exactly that, no number byte is outside a row;
    * orjson parsing the whole as one flat array once the rows' brackets are written as spaces: each value between
      two commas is one number (an empty one, ``1 2``, ``01``, ``1e``, ``-`` or one beyond float64's range is
      refused).

    Anything else, a proof that fails or a body of another form, is left to the general decoding (None).
    """

    def __init__(self, n_features: int, max_rows: int) -> None:
        self._n = n_features
        self._max_rows = max_rows
        self._row = b"[" + b"," * (n_features - 1) + b"]"

    def values(self, body: bytes) -> tuple[int, list[Any]] | None:
        """The number of rows and the values in row-major order (ints and floats, as orjson parses them)."""
        head = _ARRAY_BATCH_HEAD.match(body)
        if head is None:
            return None
        end = body.rfind(b"]")
        if end < head.end() or _OBJECT_END.fullmatch(body, end + 1) is None:
            return None
        content = body[head.end() : end]
        if _has_space(content):
            content = content.replace(b", ", b",")  # json.dumps's default separator
            if _has_space(content):
                return None
        skeleton = content.translate(None, _NUMBER)
        n_rows, leftover = divmod(len(skeleton) + 1, self._n + 2)
        if leftover or not 0 < n_rows <= self._max_rows or skeleton != ((self._row + b",") * n_rows)[:-1]:
            return None
        if content.count(b"],[") != n_rows - 1:
            return None
        try:
            values = orjson.loads(b"[" + content.translate(_BRACKETS_TO_SPACES) + b"]")
        except orjson.JSONDecodeError:
            return None
        if type(values) is not list or len(values) != n_rows * self._n:
            return None
        return n_rows, values


def _has_space(text: bytes) -> bool:
    return b" " in text or b"\n" in text or b"\r" in text or b"\t" in text


class RequestDecoder:
    """Built once per model; ``decode`` is safe to call from many threads at once."""

    def __init__(self, manifest: Manifest, schemas: RequestSchemas, max_batch_rows: int) -> None:
        self._schemas = schemas
        self._max_rows = max_batch_rows
        self._names = tuple(feature.api_name for feature in manifest.features)
        self._n = len(self._names)
        self._snake_case = _naming(self._names)
        self._dataset = _naming(tuple(feature.name for feature in manifest.features))
        self._low = np.array([feature.valid_min for feature in manifest.features], dtype=np.float64)
        self._high = np.array([feature.valid_max for feature in manifest.features], dtype=np.float64)
        self._low_list, self._high_list = self._low.tolist(), self._high.tolist()
        self._batch_leftover = b'{"%s":}' % BATCH_KEY.encode()
        self._batch_leftover = self._batch_leftover.translate(None, _NUMERIC)
        self._problems = ProblemReporter(manifest, max_batch_rows)
        self._array_batch = ArrayBatch(self._n, max_batch_rows)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._names

    def decode(self, body: bytes) -> DecodedRequest:
        """Validate ``body``; raise a 4xx ``ServiceError`` that names every offending field otherwise."""
        if body.startswith(_BOM):  # RFC 8259 lets parsers ignore a byte order mark
            body = body[len(_BOM) :]
        decoded = self.decode_fast(body)
        return decoded if decoded is not None else self.decode_strict(body)

    # The fast path: returns None whenever it cannot prove the body valid ---------------------------------

    def decode_fast(self, body: bytes) -> DecodedRequest | None:
        """The fast path of :meth:`decode`: the rows when it can prove ``body`` valid, else None."""
        if len(body) >= _FLAT_MIN_BYTES:
            flat = self._array_batch.values(body)
            if flat is not None:
                n_rows, values = flat
                return self._checked(values, n_rows, batch=True)
        try:
            document = orjson.loads(body)  # rejects NaN, Infinity, 1e309, invalid UTF-8
        except orjson.JSONDecodeError:
            return None
        batch = False
        rows: Any
        if type(document) is dict and BATCH_KEY in document:
            rows = document[BATCH_KEY]
            if len(document) != 1 or type(rows) is not list or not 0 < len(rows) <= self._max_rows:
                return None
            batch = True
        elif type(document) in (dict, list):
            rows = [document]
        else:
            return None
        n_rows = len(rows)
        # C-speed proofs of the form: every row of the same type and with one value per feature
        kinds = set(map(type, rows))
        if kinds not in ({list}, {dict}) or set(map(len, rows)) != {self._n}:
            return None
        keys = n_rows * self._n if kinds == {dict} else 0
        # Every string token must be a key (the parsers keep the last of duplicate keys, silently):
        # more quotes than keys means a duplicate key or a string where a number belongs.
        if body.count(b'"') != 2 * (keys + batch):
            return None
        try:
            if keys:
                return self._records(rows, batch)
            if n_rows <= _SMALL_BATCH:
                return self._small(rows, batch)
            # Numbers only, proved on the raw bytes at C speed: no true, false, null, nested objects.
            if body.translate(None, _NUMERIC) != (self._batch_leftover if batch else b""):
                return None
            return self._checked(chain.from_iterable(rows), n_rows, batch=batch)
        except (KeyError, ValueError, TypeError, OverflowError):  # a missing key, nested, or not numbers
            return None

    def _records(self, rows: list[dict[str, Any]], batch: bool) -> DecodedRequest | None:
        """Rows keyed by name, each with one key per feature: their values, if the keys are the names and the
        values numbers. ``KeyError`` when a row lacks a name (and so has another key instead)."""
        naming = self._snake_case if rows[0].keys() == self._snake_case.names else self._dataset
        if len(rows) <= _SMALL_BATCH:
            return self._small(list(map(naming.values, rows)), batch)
        orders = set(map(tuple, rows))
        columns = None
        if len(orders) == 1:  # every row's keys in one order (a data frame's): read the values in that order
            order = orders.pop()
            if frozenset(order) != naming.names:
                return None
            values = list(chain.from_iterable(map(dict.values, rows)))
            columns = naming.columns(order)
        else:
            values = list(chain.from_iterable(map(naming.values, rows)))
        if not set(map(type, values)) <= _NUMBER_TYPES:  # no true, false, null, nested arrays or objects
            return None
        return self._checked(values, len(rows), batch=batch, columns=columns)

    def _checked(
        self, values: Iterable[Any], n_rows: int, *, batch: bool, columns: list[int] | None = None
    ) -> DecodedRequest | None:
        """The rows of ``n_rows * n_features`` numbers in row-major order (features in ``columns`` order, if
        given), if all are within the valid ranges."""
        matrix = np.fromiter(values, dtype=np.float64, count=n_rows * self._n).reshape(n_rows, self._n)
        if columns is not None:
            matrix = matrix.take(columns, axis=1)
        if not ((matrix >= self._low) & (matrix <= self._high)).all():
            return None
        return DecodedRequest(matrix=matrix, batch=batch)

    def _small(self, rows: list[Any], batch: bool) -> DecodedRequest | None:
        """Type and range checks in plain Python, cheaper than NumPy's per-call cost for a few rows."""
        n_features, low, high = self._n, self._low_list, self._high_list
        for values in rows:
            if len(values) != n_features:
                return None
            for value, smallest, largest in zip(values, low, high, strict=True):
                kind = type(value)
                if (kind is not float and kind is not int) or not smallest <= value <= largest:
                    return None
        return DecodedRequest(matrix=np.array(rows, dtype=np.float64), batch=batch)

    # The slow path: full validation with pydantic, and errors that name the field -----------------------

    def decode_strict(self, body: bytes) -> DecodedRequest:
        """The strict path of :meth:`decode`: full validation; the error names every offending field."""
        try:
            document = pydantic_core.from_json(body, allow_inf_nan=True)
        except ValueError as error:
            if not _is_utf8(body):
                raise InvalidEncodingError("the request body is not valid UTF-8") from None
            raise MalformedBodyError(f"the request body is not valid JSON: {_json_reason(error)}") from None

        schemas = self._schemas
        batch, array_form, first = False, False, document
        if isinstance(document, dict) and BATCH_KEY in document:
            batch = True
            rows = document[BATCH_KEY]
            if isinstance(rows, list):
                if len(rows) > self._max_rows:
                    raise TooManyRowsError(
                        f"the batch has {len(rows)} records; the limit is {self._max_rows} per request",
                        [ErrorDetail((BATCH_KEY,), f"at most {self._max_rows} records", "too_many_rows")],
                    )
                array_form = bool(rows) and isinstance(rows[0], list)
                first = rows[0] if rows else None
        elif isinstance(document, list):
            array_form = True
        elif not isinstance(document, dict):
            self._refuse([ErrorDetail((), f"expected {FORMS}, got {kind_of(document)}", "body_type")])
        shape = self._problems.shape_problem(document)
        if shape is not None:
            self._refuse([shape])
        dataset_names = not array_form and self._uses_dataset_names(first)
        if array_form:
            adapter = schemas.array_batch if batch else schemas.array_record
        elif dataset_names:
            adapter = schemas.dataset_batch if batch else schemas.dataset_record
        else:
            adapter = schemas.named_batch if batch else schemas.named_record

        try:
            value = adapter.validate_json(body)
        except ValidationError as error:
            self._refuse(
                self._problems.describe(error, batch=batch, array_form=array_form, dataset_names=dataset_names)
            )

        duplicates = duplicate_key_details(body)
        if duplicates:
            self._refuse(duplicates)

        records = value.instances if batch else [value]
        if array_form:
            matrix = np.array(records, dtype=np.float64)
        else:
            values = self._snake_case.values  # both conventions validate into the snake_case fields
            matrix = np.array([values(record.model_dump()) for record in records], dtype=np.float64)
        return DecodedRequest(matrix=np.ascontiguousarray(matrix), batch=batch)

    def _uses_dataset_names(self, record: Any) -> bool:
        """A keyed request's convention, read from its first record: the one most of its keys follow."""
        if not isinstance(record, dict):
            return False
        keys = record.keys()
        return len(keys & self._dataset.names) > len(keys & self._snake_case.names)

    @staticmethod
    def _refuse(details: list[ErrorDetail]) -> NoReturn:
        message, listed = summarise(details)
        raise InvalidInputError(message, listed)


_JSON_POSITION = re.compile(r"^Invalid JSON: ")


def _json_reason(error: ValueError) -> str:
    return _JSON_POSITION.sub("", str(error))[:200]


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
