"""JSON arrays of numbers read straight into float64, without a Python object per number.

A JSON parser that builds Python objects makes one float per number, which NumPy then converts: on big batches that
costs more than the model's compute. simdjson (pysimdjson) validates the text at C speed and copies the numbers of an
array, its nested arrays flattened in document order, into one buffer that NumPy reads.

It is as strict as orjson: valid UTF-8, nothing after the value, and JSON numbers only (no NaN or Infinity, no
leading zero, ``1.``, ``.5``, ``+1`` or ``1e``, nothing beyond float64's range such as ``1e400``), each read to the
nearest float64 as orjson reads it. It refuses integers beyond 64 bits, which orjson reads as floats: callers leave
whatever it refuses to their general decoding.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import simdjson
from numpy.typing import NDArray

NUMBER_BYTES: Final = b"0123456789+-.eE"
"""The bytes JSON numbers are written with."""
WHITESPACE: Final = b" \t\r\n"
"""JSON's whitespace."""
_BOM: Final = b"\xef\xbb\xbf"


def parse_numbers(text: bytes) -> NDArray[np.float64] | None:
    """The numbers of ``text``, a JSON array of numbers and arrays of them, in document order (read-only).

    None unless ``text`` is valid JSON, an array, and holds nothing but numbers and arrays: a string, literal,
    object or invalid number anywhere, a byte order mark (simdjson skips it; orjson refuses it) or an integer
    beyond 64 bits.
    """
    if text.startswith(_BOM):
        return None
    parser = simdjson.Parser()  # one document at a time per parser, and decoders run on many threads at once
    try:
        document = parser.parse(text)
        if not isinstance(document, simdjson.Array):
            return None
        buffer = document.as_buffer(of_type="d")  # TypeError for anything that is not a number
    except (ValueError, TypeError, RuntimeError):  # invalid JSON or UTF-8, a number out of range, a bigint
        return None
    return np.frombuffer(buffer, dtype=np.float64)
