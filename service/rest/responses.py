"""Responses: the JSON response class of the FastAPI routes, and the reply of the fast endpoints."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from starlette.responses import JSONResponse, Response
from starlette.types import Send

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
JSON: Final = "application/json"
_JSON_BYTES: Final = JSON.encode()
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
        media_type = _JSON_BYTES if self.media_type == JSON else self.media_type.encode("latin-1")
        headers = [(b"content-type", media_type), (b"content-length", b"%d" % len(self.body))]
        for name, value in self.headers:
            headers.append((name.encode("latin-1"), value.encode("latin-1")))
        return headers

    async def send(self, send: Send, extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        """Send as the two ASGI messages, with ``extra_headers`` after the reply's own."""
        headers = self.raw_headers()
        headers.extend(extra_headers)
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})

    def response(self) -> Response:
        return Response(self.body, status_code=self.status, media_type=self.media_type, headers=dict(self.headers))
