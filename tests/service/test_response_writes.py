"""The server's connection protocol writes a response's head with the first part of its body, in one write."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from service.lifecycle import Lifecycle
from service.server.graceful import ServerConfig
from service.server.limits import ConnectionLimits
from service.server.protocol import GuardedHttpToolsProtocol

LIMITS = ConnectionLimits(
    max_header_bytes=8192,
    header_timeout=5.0,
    body_timeout=5.0,
    keep_alive_timeout=5.0,
    max_connections=10,
    max_body_bytes=1 << 20,
)


class RecordingTransport(asyncio.Transport):
    """Keeps every write call's bytes, one entry per call."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.writes.append(b"".join(list_of_data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    headers = [(b"content-type", b"text/plain")]
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for part in (b"HTTP/1.1 looks like a head", b"second", b""):
            await send({"type": "http.response.body", "body": part, "more_body": bool(part)})
        return
    body = b"HTTP/1.1 200 OK, said the body"
    await send(
        {"type": "http.response.start", "status": 200, "headers": [*headers, (b"content-length", b"%d" % len(body))]}
    )
    await send({"type": "http.response.body", "body": body})


def exchange(request: bytes) -> list[bytes]:
    async def scenario() -> list[bytes]:
        config = ServerConfig(lambda: app, limits=LIMITS, lifecycle=Lifecycle(), shutdown_grace=0.0, lifespan="off")
        config.load()
        transport = RecordingTransport()
        protocol = GuardedHttpToolsProtocol(config, ServerState(), {})
        protocol.connection_made(transport)
        protocol.data_received(request)
        for _ in range(20):
            await asyncio.sleep(0)
        protocol.connection_lost(None)
        return transport.writes

    return asyncio.run(scenario())


def test_a_response_goes_out_in_one_write() -> None:
    [write] = exchange(b"GET /one HTTP/1.1\r\nhost: x\r\n\r\n")
    assert write.startswith(b"HTTP/1.1 200 OK\r\n")
    assert write.endswith(b"\r\n\r\nHTTP/1.1 200 OK, said the body")


def test_a_head_request_gets_its_head_alone() -> None:
    [write] = exchange(b"HEAD /one HTTP/1.1\r\nhost: x\r\n\r\n")
    assert write.startswith(b"HTTP/1.1 200 OK\r\n")
    assert write.endswith(b"content-length: 30\r\n\r\n")


def test_a_streamed_body_sends_its_head_with_the_first_part_then_each_part() -> None:
    writes = exchange(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
    assert len(writes) == 3
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"transfer-encoding: chunked\r\n\r\n1a\r\nHTTP/1.1 looks like a head\r\n")
    assert writes[1:] == [b"6\r\nsecond\r\n", b"0\r\n\r\n"]


def test_pipelined_requests_get_their_responses_in_order() -> None:
    writes = exchange(b"GET /one HTTP/1.1\r\nhost: x\r\n\r\nGET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
    assert [write[:15] for write in writes] == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK",
        b"6\r\nsecond\r\n",
        b"0\r\n\r\n",
    ]
