"""Reading a request body: media type and encoding checks, and a byte limit enforced while streaming."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Final, ParamSpec, TypeVar

from starlette.requests import ClientDisconnect, Request

from service.errors import PayloadTooLargeError, UnsupportedMediaTypeError

_IDENTITY = frozenset({b"", b"identity"})

INLINE_BODY_BYTES: Final = 64 * 1024
"""Bodies up to this size (about 80 named records) are handled on the event loop: the work takes well under a
millisecond, less than a hop to a worker thread and back. Larger bodies go to a worker thread so that a big
batch never stalls other requests (health checks included)."""

_BODY_WORKERS: Final = ThreadPoolExecutor(thread_name_prefix="body-work")
"""The threads that decode, predict and encode large bodies. The loop hands work over with ``run_in_executor``:
half the time of anyio's ``to_thread`` (Starlette's ``run_in_threadpool``), whose cancel scopes and capacity
limiter cost more than the hop itself; the admission control already bounds the work in flight."""

P = ParamSpec("P")
T = TypeVar("T")


async def handle_body(body: bytes, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``work(*args, **kwargs)``: on the event loop for a small ``body``, in a worker thread for a large one."""
    if len(body) <= INLINE_BODY_BYTES:
        return work(*args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_BODY_WORKERS, partial(work, *args, **kwargs))


def check_json_type(content_type: str | None) -> None:
    """Accept ``application/json`` or ``application/*+json`` in UTF-8; a missing type counts as JSON."""
    if content_type is None:
        return
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaTypeError("send the body as JSON, with 'Content-Type: application/json'")
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise UnsupportedMediaTypeError("JSON bodies must be encoded in UTF-8")


async def read_body(request: Request, max_bytes: int, *, json_only: bool) -> bytes:
    """The whole body, or ``PayloadTooLargeError`` as soon as it is known to exceed ``max_bytes``.

    ``json_only`` refuses other content types (415). Compressed bodies are always refused (415). A declared
    ``Content-Length`` over the limit is refused before reading; a chunked body is counted as it streams in
    and reading stops at the first chunk past the limit.
    """
    content_type = encoding = declared = None
    for name, value in request.scope["headers"]:  # one pass over the raw headers (ASGI names are lower-case)
        if name == b"content-type":
            content_type = value
        elif name == b"content-encoding":
            encoding = value
        elif name == b"content-length":
            declared = value
    if json_only and content_type is not None and content_type != b"application/json":
        check_json_type(content_type.decode("latin-1"))
    if encoding is not None and encoding.strip().lower() not in _IDENTITY:
        raise UnsupportedMediaTypeError("compressed request bodies are not accepted; send 'Content-Encoding: identity'")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: nobody is waiting for an answer
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(max_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"the request body exceeds the limit of {max_bytes} bytes")
