"""Request bodies of /predict to a float64 matrix: strict validation in one pass, precise errors otherwise.

Accepted bodies (feature names, order and ranges come from the manifest):

* one record, keyed by feature name: ``{"mean_radius": 17.99, ...}``, or by the data set's own names as
  ``load_breast_cancer(as_frame=True)`` spells them: ``{"mean radius": 17.99, ...}`` (one convention per
  request, so that a record cannot name a feature twice)
* one record as an array in the data set's order: ``[17.99, 10.38, ...]``
* a batch of records, all in one of those forms: ``{"instances": [record, ...]}`` (KServe v1)

Valid bodies take a fast path: orjson parses, and a few C-speed checks on the raw bytes prove that what it
parsed is exactly what strict validation would accept (numbers only, no duplicate keys), then NumPy checks the
shape and the valid ranges. Big batches of arrays, and of records that all name the features in one order, are not
even parsed into rows: their structure is proved on the raw bytes and their numbers parsed straight into float64
(``service.protocols.batches``).
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
from service.protocols.batches import ArrayBatch, NamedBatch
from service.protocols.problems import FORMS, ProblemReporter, duplicate_key_details, kind_of, summarise
from service.protocols.schemas import BATCH_KEY, RequestSchemas

__all__ = ["ArrayBatch", "DecodedRequest", "RequestDecoder"]  # ArrayBatch: one of the decoder's fast paths

_BOM: Final = b"\xef\xbb\xbf"
_NUMERIC: Final = b"0123456789+-.eE,[] \t\r\n"
"""Bytes an array-form body may consist of, besides the batch wrapper: no strings, literals or objects."""
_NUMBER_TYPES: Final = frozenset({int, float})
_SMALL_BATCH: Final = 8
"""Up to this many rows, values are checked in Python; above it, on the raw bytes and with NumPy."""
_BATCH_MIN_BYTES: Final = 2048
"""Smaller bodies skip the raw-byte proofs of ``service.protocols.batches``: the general fast path is as quick."""


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
        self._named_batch = NamedBatch((self._snake_case.names, self._dataset.names), max_batch_rows)

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
        if len(body) >= _BATCH_MIN_BYTES:
            arrays = self._array_batch.values(body)
            if arrays is not None:
                n_rows, values = arrays
                return self._checked(values, n_rows, batch=True)
            named = self._named_batch.values(body)
            if named is not None:
                n_rows, order, values = named
                naming = self._snake_case if frozenset(order) == self._snake_case.names else self._dataset
                return self._checked(values, n_rows, batch=True, columns=naming.columns(order))
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
        if isinstance(values, np.ndarray):
            matrix = values.reshape(n_rows, self._n)
        else:
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
