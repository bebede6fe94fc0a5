"""What is wrong with an invalid /predict body, said per field: pydantic's errors rewritten for people.

Messages name the feature (an array position also gets its name), say what was expected, and never repeat
the offending value; unknown keys get a hint naming the closest known one. A body of the wrong shape (a bare
list of records, a record nested one level too deep, a data frame's columns instead of its rows) gets one
problem that says how to fix it, instead of one per value. The most useful problems come first, and a
problem repeated across a batch's records is listed once with the records it affects. Only the slow path of
``service.decoding`` comes here, so none of this is on the path of a valid request.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any, Final

from pydantic import ValidationError

from neuralnet.artifacts import Manifest
from service.errors import ErrorDetail, Loc, safe_text
from service.protocols.schemas import BATCH_HINT, BATCH_KEY

MAX_DETAILS: Final = 100
"""At most this many problems are listed in one error response."""

FORMS: Final = "an object keyed by feature names, an array of numbers, or {'instances': [...]}"

_SHAPE_TYPES: Final = frozenset(
    {"body_type", "bare_batch", "nested_too_deep", "columns_not_rows", "record_type", "batch_type", "wrong_length"}
)
"""Problems with the body's shape: fixing them first usually fixes everything else."""


def _rank(detail: ErrorDetail) -> int:
    """Most useful first: the shape, then unknown keys with a hint, values, other unknown keys, missing keys."""
    if detail.type in _SHAPE_TYPES or detail.type in ("empty_batch", "too_many_rows"):
        return 0
    if detail.type == "unknown_field":
        return 1 if "did you mean" in detail.msg else 3
    return 4 if detail.type == "missing" else 2


class ProblemReporter:
    """Built once per model, from its manifest."""

    def __init__(self, manifest: Manifest, max_batch_rows: int) -> None:
        self._max_rows = max_batch_rows
        self._names = tuple(feature.api_name for feature in manifest.features)
        self._dataset_names = tuple(feature.name for feature in manifest.features)
        self._n = len(self._names)
        self._index = {name: i for i, name in enumerate(self._names)} | {
            name: i for i, name in enumerate(self._dataset_names)
        }
        self._low = [feature.valid_min for feature in manifest.features]
        self._high = [feature.valid_max for feature in manifest.features]
        self._lookup = {normalise(name): index for name, index in self._index.items()}

    def shape_problem(self, document: Any) -> ErrorDetail | None:
        """The one problem of a body whose shape is wrong as a whole, with how to fix it; None otherwise."""
        n = self._n
        if isinstance(document, list) and document and isinstance(document[0], list | dict):
            if len(document) == 1 and isinstance(document[0], list):
                return ErrorDetail(
                    (),
                    f"expected an array of {n} numbers, got an array holding one array (nested one level too "
                    f"deep): send the inner array, or {BATCH_HINT}",
                    "nested_too_deep",
                )
            return ErrorDetail(
                (), f"expected one record, got an array of {len(document)} records: {BATCH_HINT}", "bare_batch"
            )
        record: Any = document
        loc: Loc = ()
        if isinstance(document, dict) and isinstance(document.get(BATCH_KEY), list) and document[BATCH_KEY]:
            record, loc = document[BATCH_KEY][0], (BATCH_KEY, 0)
            if isinstance(record, list) and record and all(isinstance(row, list) for row in record):
                return ErrorDetail(
                    loc,
                    f"expected an array of {n} numbers, got an array of arrays (nested one level too deep): "
                    'put the records themselves in "instances"',
                    "nested_too_deep",
                )
        if (
            isinstance(record, dict)
            and record
            and all(isinstance(value, list | dict) for value in record.values())
            and any(key in self._index for key in record)
        ):
            return ErrorDetail(
                loc,
                "got columns (each feature maps to many values), not records: send rows, e.g. "
                '{"instances": df.to_dict(orient="records")}',
                "columns_not_rows",
            )
        return None

    def describe(
        self, error: ValidationError, *, batch: bool, array_form: bool, dataset_names: bool = False
    ) -> list[ErrorDetail]:
        """Every problem pydantic found, rewritten; ``dataset_names``: the request uses the data set's names."""
        details: list[ErrorDetail] = []
        short_rows: dict[Loc, int] = {}  # array records with too few values: row loc -> first missing index
        row_depth = 2 if batch else 0  # len(loc) of a record: ("instances", i) or ()
        form = "an array of numbers" if array_form else "an object keyed by feature names"
        for item in error.errors(include_url=False):
            loc: Loc = tuple(item["loc"])
            kind = item["type"]
            on_field = len(loc) == row_depth + 1
            position_in_array = array_form and on_field and isinstance(loc[-1], int)
            feature = self._feature_label(loc[-1]) if on_field else ""
            if kind == "missing" and position_in_array:
                row = loc[:-1]
                short_rows[row] = min(short_rows.get(row, self._n), int(loc[-1]))
                continue
            if kind == "missing":
                details.append(ErrorDetail(loc, f"missing field {feature}", "missing"))
            elif kind == "extra_forbidden":
                key = safe_text(loc[-1])
                details.append(
                    ErrorDetail(
                        loc,
                        f"unknown field {key!r}{self._hint(str(loc[-1]), top=not loc[:-1], dataset=dataset_names)}",
                        "unknown_field",
                    )
                )
            elif kind in ("float_type", "float_parsing"):
                details.append(
                    ErrorDetail(loc, f"{feature} must be a JSON number, not {kind_of(item['input'])}", "not_a_number")
                )
            elif kind == "finite_number":
                details.append(
                    ErrorDetail(
                        loc,
                        f"{feature} must be a finite number (NaN, Infinity and numbers too large for a double, "
                        "like 1e309, are not accepted)",
                        "not_finite",
                    )
                )
            elif kind in ("greater_than_equal", "less_than_equal"):
                index = self._feature_index(loc[-1])
                low, high = self._low[index], self._high[index]
                details.append(
                    ErrorDetail(
                        loc,
                        f"{feature} must be between {limit(low)} and {limit(high)} (the model's valid range)",
                        "out_of_range",
                    )
                )
            elif kind == "too_long" and array_form and len(loc) == row_depth:
                actual = (item.get("ctx") or {}).get("actual_length", "more")
                details.append(ErrorDetail(loc, f"expected {self._n} values, got {actual}", "wrong_length"))
            elif kind == "too_short" and loc == (BATCH_KEY,):
                details.append(
                    ErrorDetail(loc, f"the batch is empty; send 1 to {self._max_rows} records", "empty_batch")
                )
            elif kind in ("model_type", "tuple_type", "dict_type", "list_type") and len(loc) == row_depth:
                same_form = " like the batch's first record" if batch else ""
                details.append(
                    ErrorDetail(loc, f"expected {form}{same_form}, got {kind_of(item['input'])}", "record_type")
                )
            elif kind in ("list_type", "model_type") and loc == (BATCH_KEY,):
                details.append(ErrorDetail(loc, f"{BATCH_KEY!r} must be an array of records", "batch_type"))
            else:
                details.append(ErrorDetail(loc, str(item["msg"]), str(kind)))
        for row, got in short_rows.items():
            details.append(ErrorDetail(row, f"expected {self._n} values, got {got}", "wrong_length"))
        return details

    def _feature_index(self, key: str | int) -> int:
        return key if isinstance(key, int) else self._index[key]

    def _feature_label(self, key: str | int) -> str:
        """``'mean_radius'`` for a named field, ``'value 0 (mean_radius)'`` for an array position."""
        if isinstance(key, int):
            return f"value {key} ({self._names[key]})" if 0 <= key < self._n else f"value {key}"
        return repr(safe_text(key))

    def _hint(self, key: str, *, top: bool, dataset: bool) -> str:
        """A "did you mean" in the request's own naming convention; a name of the other one says so."""
        names = self._dataset_names if dataset else self._names
        if key in self._index and key not in names:
            used, other = ("the data set's", "snake_case") if dataset else ("snake_case", "the data set's")
            return (
                f"; did you mean {names[self._index[key]]!r}? (one naming convention per request: "
                f"this one uses {used} names, not {other})"
            )
        normalised = normalise(key)
        if normalised in self._lookup:
            return f"; did you mean {names[self._lookup[normalised]]!r}?"
        candidates = [*self._names, BATCH_KEY] if top else list(self._names)
        matches = difflib.get_close_matches(normalised, candidates, n=1, cutoff=0.75)
        if not matches:
            return ""
        match = matches[0] if matches[0] == BATCH_KEY else names[self._index[matches[0]]]
        return f"; did you mean {match!r}?"


def duplicate_key_details(body: bytes) -> list[ErrorDetail]:
    """One detail per key that appears twice in one object (JSON parsers keep the last, silently)."""
    return [
        ErrorDetail(loc, f"duplicate key {safe_text(loc[-1])!r}; each key may appear once", "duplicate_key")
        for loc in _walk_duplicates((), json.loads(body, object_pairs_hook=_object_pairs))
    ]


def summarise(details: Sequence[ErrorDetail]) -> tuple[str, list[ErrorDetail]]:
    """The error's message and listed details: the most useful problem first, repeats across records merged.

    A data frame's worth of bad records (569 records x 60 problems) becomes one detail per distinct problem,
    each naming its first record and how many others share it.
    """
    ordered = sorted(details, key=_rank)
    groups: dict[tuple[Any, ...], list[ErrorDetail]] = {}
    for detail in ordered:
        in_record = len(detail.loc) >= 2 and detail.loc[0] == BATCH_KEY and isinstance(detail.loc[1], int)
        key = (detail.type, detail.loc[2:], detail.msg) if in_record else (detail.type, detail.loc, detail.msg, 0)
        groups.setdefault(key, []).append(detail)
    merged = [_merge(group) for group in groups.values()]
    records = {detail.loc[1] for detail in details if len(detail.loc) >= 2 and detail.loc[0] == BATCH_KEY}
    message = f"invalid input: {merged[0].msg}"
    if len(details) > 1:
        where = f" in {len(records)} records" if len(records) > 1 else ""
        message += f" ({len(details)} problems{where}"
        message += f"; the first {MAX_DETAILS} are listed)" if len(merged) > MAX_DETAILS else ")"
    return message, merged[:MAX_DETAILS]


def _merge(group: list[ErrorDetail]) -> ErrorDetail:
    first = group[0]
    if len(group) == 1:
        return first
    others = [str(detail.loc[1]) for detail in group[1:]]
    shown = ", ".join(others[:5]) + (", …" if len(others) > 5 else "")
    plural = "s" if len(others) > 1 else ""
    return ErrorDetail(first.loc, f"{first.msg}; the same in {len(others)} more record{plural} ({shown})", first.type)


def limit(value: float) -> str:
    """A limit for a message: ``0.912``, not ``0.9119999999999999`` (six significant digits at most)."""
    return f"{value:.6g}"


def normalise(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", name.strip().lower())


def kind_of(value: object) -> str:
    """What a JSON value is, for messages (the value itself is never repeated)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a number" if isinstance(value, int | float) else "another value"


class _Object(dict[str, Any]):
    duplicates: list[str]


def _object_pairs(pairs: Sequence[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    seen: set[str] = set()
    obj.duplicates = []
    for key, _ in pairs:
        if key in seen:
            obj.duplicates.append(key)
        seen.add(key)
    return obj


def _walk_duplicates(loc: Loc, node: Any) -> Iterator[Loc]:
    # Only reached after validation succeeded, so the document is at most three levels deep.
    if isinstance(node, _Object):
        for key in dict.fromkeys(node.duplicates):
            yield (*loc, key)
        for key, child in node.items():
            yield from _walk_duplicates((*loc, key), child)
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _walk_duplicates((*loc, index), child)
