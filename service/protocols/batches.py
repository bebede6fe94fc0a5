"""Big batches of /predict and KServe V1 read without a Python object per row or per number.

Parsing a batch into one list or dict per row, one float per number, and converting those costs more than the
model's compute. So the structure of the batch is proved on the raw bytes at C speed, and its numbers are parsed
straight into one float64 buffer (``service.protocols.numbers``). Each class proves one form; anything it cannot
prove, valid or not, it leaves to the general decoding (None), which accepts it or says what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

import numpy as np
import orjson
from numpy.typing import NDArray

from service.protocols.numbers import NUMBER_BYTES, parse_numbers
from service.protocols.schemas import BATCH_KEY

_BATCH_HEAD: Final = re.compile(rb'[ \t\r\n]*\{[ \t\r\n]*"%s"[ \t\r\n]*:[ \t\r\n]*\[' % BATCH_KEY.encode())
_OBJECT_END: Final = re.compile(rb"[ \t\r\n]*\}[ \t\r\n]*")
_BRACKETS_TO_SPACES: Final = bytes.maketrans(b"[]", b"  ")
_PLAIN_NUMBER_BYTES: Final = b"0123456789+-."
"""The bytes of JSON numbers written without an exponent, as JSON encoders write the values of this data set."""
_NAME_BYTES_REFUSED: Final = frozenset(_PLAIN_NUMBER_BYTES + b'"\\:,{}[]')
_NEGATED_VALUES: Final = bytes.maketrans(b':{}"', b"-   ")
"""Named records to negated values: a colon becomes a minus sign, braces and quotes spaces (they separate)."""
_NOT_IN_NEGATED_VALUES: Final = bytes(set(range(256)) - set(_PLAIN_NUMBER_BYTES + b',[]:{}"'))


def _wrapped(body: bytes) -> tuple[int, int] | None:
    """Where the records of ``{"instances": [...]}`` start and end (after its ``[``, at its ``]``), if ``body``
    begins and ends as that wrapper (whitespace allowed around its tokens)."""
    head = _BATCH_HEAD.match(body)
    if head is None:
        return None
    end = body.rfind(b"]")
    if end < head.end() or _OBJECT_END.fullmatch(body, end + 1) is None:
        return None
    return head.end(), end


def _joined(item: bytes, separator: bytes, count: int, head: bytes, tail: bytes) -> bytes:
    """``head``, then ``count`` times ``item`` with ``separator`` between them, then ``tail``."""
    return b"".join((head, (item + separator) * (count - 1), item, tail))


def _has_space(text: bytes) -> bool:
    return b" " in text or b"\n" in text or b"\r" in text or b"\t" in text


class ArrayBatch:
    """The values of ``{"instances": [[number, ...], ...]}`` in row-major order, parsed without building the rows.

    The body is proved to be ``{"instances": [ROW,ROW,...]}``, each ROW ``[number,...,number]``, by:

    * its head and tail being the wrapper (whitespace allowed there);
    * no whitespace between the rows' brackets once ``", "`` is written ``","``; other layouts (indented JSON)
      are left to the general decoding;
    * deleting the number bytes leaving exactly ``[[,,...,],[,,...,]...]``: ``n_rows`` brackets of
      ``n_features - 1`` commas (no strings, literals, objects or deeper arrays, and every row its count of values);
    * simdjson parsing the rows as valid JSON of numbers only: each value between two commas is one JSON number
      (an empty one, ``1 2``, ``01``, ``1e``, ``-``, one beyond float64's range, or a number outside a row's
      brackets is refused). simdjson refuses integers beyond 64 bits, which orjson reads as floats: when it
      refuses, orjson parses the rows as one flat array once their brackets are written as spaces, every row
      boundary being exactly ``],[`` (no number outside a row).
    """

    def __init__(self, n_features: int, max_rows: int) -> None:
        self._n = n_features
        self._max_rows = max_rows
        self._row = b"[" + b"," * (n_features - 1) + b"]"

    def values(self, body: bytes) -> tuple[int, NDArray[np.float64]] | None:
        """The number of rows and their values in row-major order."""
        wrapped = _wrapped(body)
        if wrapped is None or body[wrapped[0] : wrapped[0] + 1] != b"[":
            return None
        rows = body[wrapped[0] - 1 : wrapped[1] + 1]
        if _has_space(rows):
            rows = rows.replace(b", ", b",")  # json.dumps's default separator
            if _has_space(rows):
                return None
        skeleton = rows.translate(None, NUMBER_BYTES)
        n_rows, leftover = divmod(len(skeleton) - 1, self._n + 2)
        if leftover or not 0 < n_rows <= self._max_rows or skeleton != _joined(self._row, b",", n_rows, b"[", b"]"):
            return None
        values = parse_numbers(rows)
        if values is None:  # invalid, or integers beyond 64 bits: orjson reads those
            values = self._orjson_values(rows, n_rows)
        if values is None or values.size != n_rows * self._n:
            return None
        return n_rows, values

    @staticmethod
    def _orjson_values(rows: bytes, n_rows: int) -> NDArray[np.float64] | None:
        """The values as orjson parses them with the rows' brackets written as spaces (every number keeps its text),
        provided every row boundary is exactly ``],[`` (no number outside a row)."""
        if rows.count(b"],[") != n_rows - 1:
            return None
        try:
            values = orjson.loads(b"[" + rows.translate(_BRACKETS_TO_SPACES) + b"]")
        except orjson.JSONDecodeError:
            return None
        if type(values) is not list:
            return None
        return np.fromiter(values, dtype=np.float64, count=len(values))


class NamedBatch:
    """The values of ``{"instances": [{"name": number, ...}, ...]}`` whose records all name the features in one
    order (a data frame's records), in that order, parsed without building the records.

    The body is proved to be the wrapper around records that each name exactly the features of one naming
    convention, in the order of its first record, with non-negative plain numbers as values, by:

    * its head and tail being the wrapper, and its first record (parsed alone) naming each feature once;
    * deleting the bytes of plain numbers (digits, ``.``, ``+``, ``-``) leaving exactly the wrapper around
      ``n_rows`` copies of that record with its values deleted, in the first record's layout (compact, or
      ``json.dumps``'s ``", "`` and ``": "``): no strings but these keys, no literals, objects, arrays or
      exponents, every key's letters in place; only plain-number bytes could still hide in a key or a value;
    * the records written with nothing but those bytes, commas and brackets, each colon made a minus sign and
      each brace or quote a space, parsing (simdjson) as ``n_rows * n_features`` valid JSON numbers: each
      stretch between two commas, ``-value`` with whatever number bytes its key held before the minus, is one
      number, which a JSON number allows only if the key held none and the value is a plain number (an empty
      value leaves a lone ``-``). The values are those numbers negated back (exact).

    Records with exponents (``1e-05``) or negative values, other layouts, or records in different orders are
    left to the general decoding (None).
    """

    def __init__(self, conventions: Iterable[frozenset[str]], max_rows: int) -> None:
        self._conventions = frozenset(
            names for names in conventions if not any(set(name.encode()) & _NAME_BYTES_REFUSED for name in names)
        )
        self._max_rows = max_rows

    def values(self, body: bytes) -> tuple[int, tuple[str, ...], NDArray[np.float64]] | None:
        """The number of rows, the keys in their order, and the values in row-major order."""
        wrapped = _wrapped(body)
        if wrapped is None or body[wrapped[0] : wrapped[0] + 1] != b"{":
            return None
        start, end = wrapped
        first_end = body.find(b"}", start) + 1
        try:
            first = orjson.loads(body[start:first_end])
        except orjson.JSONDecodeError:
            return None
        if type(first) is not dict or frozenset(first) not in self._conventions:
            return None
        keys = tuple(first)
        spaced = body.startswith(b'": ', start + len(keys[0]) + 2)  # json.dumps's default separators
        colon, comma = (b": ", b", ") if spaced else (b":", b",")
        record = b"{" + comma.join(b'"%s"%s' % (key.encode(), colon) for key in keys) + b"}"
        skeleton = body.translate(None, _PLAIN_NUMBER_BYTES)
        head, tail = body[:start], body[end:]
        n_rows, leftover = divmod(len(skeleton) - len(head) - len(tail) + len(comma), len(record) + len(comma))
        if leftover or not 0 < n_rows <= self._max_rows or skeleton != _joined(record, comma, n_rows, head, tail):
            return None
        negated = body.translate(_NEGATED_VALUES, _NOT_IN_NEGATED_VALUES)
        values = parse_numbers(negated[negated.find(b"[") :])  # after the wrapper's own colon
        if values is None or values.size != n_rows * len(keys):
            return None
        return n_rows, keys, np.subtract(0.0, values)  # 0.0 - -0.0 is 0.0, as orjson reads "0"
