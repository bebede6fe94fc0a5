"""What is wrong with an invalid /predict body, said per field: pydantic's errors rewritten for people.

Messages name the feature (an array position also gets its name), say what was expected, and never repeat
the offending value; unknown keys get a hint naming the closest known one. Only the slow path of
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
from service.schemas import BATCH_KEY

MAX_DETAILS: Final = 100
"""At most this many problems are listed in one error response."""

FORMS: Final = "an object keyed by feature names, an array of numbers, or {'instances': [...]}"


class ProblemReporter:
    """Built once per model, from its manifest."""

    def __init__(self, manifest: Manifest, max_batch_rows: int) -> None:
        self._max_rows = max_batch_rows
        self._names = tuple(feature.api_name for feature in manifest.features)
        self._n = len(self._names)
        self._low = [feature.valid_min for feature in manifest.features]
        self._high = [feature.valid_max for feature in manifest.features]
        self._lookup = {normalise(name): name for name in self._names} | {
            normalise(feature.name): feature.api_name for feature in manifest.features
        }

    def describe(self, error: ValidationError, *, batch: bool, array_form: bool) -> list[ErrorDetail]:
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
                        loc, f"unknown field {key!r}{self._hint(str(loc[-1]), top=not loc[:-1])}", "unknown_field"
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
                        loc, f"{feature} must be between {low!r} and {high!r} (the model's valid range)", "out_of_range"
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
        return key if isinstance(key, int) else self._names.index(key)

    def _feature_label(self, key: str | int) -> str:
        """``'mean_radius'`` for a named field, ``'value 0 (mean_radius)'`` for an array position."""
        if isinstance(key, int):
            return f"value {key} ({self._names[key]})" if 0 <= key < self._n else f"value {key}"
        return repr(safe_text(key))

    def _hint(self, key: str, *, top: bool) -> str:
        normalised = normalise(key)
        if normalised in self._lookup:
            return f"; did you mean {self._lookup[normalised]!r}?"
        candidates = [*self._names, BATCH_KEY] if top else list(self._names)
        matches = difflib.get_close_matches(normalised, candidates, n=1, cutoff=0.75)
        return f"; did you mean {matches[0]!r}?" if matches else ""


def duplicate_key_details(body: bytes) -> list[ErrorDetail]:
    """One detail per key that appears twice in one object (JSON parsers keep the last, silently)."""
    return [
        ErrorDetail(loc, f"duplicate key {safe_text(loc[-1])!r}; each key may appear once", "duplicate_key")
        for loc in _walk_duplicates((), json.loads(body, object_pairs_hook=_object_pairs))
    ]


def summary(count: int) -> str:
    listed = f"; the first {MAX_DETAILS} are listed" if count > MAX_DETAILS else ""
    return f"invalid input: {count} problem{'s' if count != 1 else ''}{listed}"


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
