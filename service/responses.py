"""The one JSON response class: orjson-encoded, and bytes pass through untouched (already encoded)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def dump_json(content: Any) -> bytes:
    """orjson with NumPy support. Non-finite floats come out as ``null``, never as ``NaN``."""
    return orjson.dumps(content, option=_OPTIONS)


class JSONBytesResponse(JSONResponse):
    """A ``JSONResponse`` (so OpenAPI documents the response model) that encodes with orjson."""

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return dump_json(content)
