"""Responses: the JSON response class of the FastAPI routes, and the reply of the fast endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson
from starlette.responses import JSONResponse, Response

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
JSON: Final = "application/json"
MODEL_VERSION_HEADER: Final = "X-Model-Version"
"""Names the model version that answered, on every inference response, whatever its body's protocol says."""


def dump_json(content: Any) -> bytes:
    """orjson with NumPy support. Non-finite floats come out as ``null``, never as ``NaN``."""
    return orjson.dumps(content, option=_OPTIONS)


class JSONBytesResponse(JSONResponse):
    """A ``JSONResponse`` (so OpenAPI documents the response model) that encodes with orjson."""

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return dump_json(content)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a fast endpoint answers: sent as raw ASGI messages, or as a ``Response`` through FastAPI."""

    body: bytes
    status: int = 200
    media_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"content-type", self.media_type.encode("latin-1")),
            (b"content-length", str(len(self.body)).encode("latin-1")),
            *((name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers),
        ]

    def response(self) -> Response:
        return Response(self.body, status_code=self.status, media_type=self.media_type, headers=dict(self.headers))
