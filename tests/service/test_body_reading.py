"""How the server protocol hands a request body to the app: a declared body within the limit in one piece,
without pausing the reading; a chunked one, or one declared over the limit, in pieces, as uvicorn does."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Message, Receive, Scope, Send
from uvicorn.server import ServerState

from service.lifecycle import Lifecycle
from service.server.graceful import ServerConfig
from service.server.limits import ConnectionLimits
from service.server.protocol import GuardedHttpToolsProtocol

LIMIT = 1024 * 1024
PIECE = 60 * 1024


class Transport(asyncio.Transport):
    """What the protocol writes, and whether its reading is paused (and ever was)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.paused = self.ever_paused = self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def pause_reading(self) -> None:
        self.paused = self.ever_paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def _deliver(head: bytes, pieces: list[bytes]) -> tuple[list[Message], Transport]:
    """Feed a request to the protocol as a fast network would: the next piece as soon as the protocol reads (a paused
    one gets it only once the app has resumed it); return what the app received."""
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            received.append(message)
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def scenario() -> Transport:
        limits = ConnectionLimits(
            max_header_bytes=16384, header_timeout=10, body_timeout=10, keep_alive_timeout=10,
            max_connections=10, max_body_bytes=LIMIT,
        )  # fmt: skip
        config = ServerConfig(lambda: app, limits=limits, lifecycle=Lifecycle(), shutdown_grace=0, log_config=None)
        config.load()
        protocol = GuardedHttpToolsProtocol(config, ServerState(), {})
        transport = Transport()
        protocol.connection_made(transport)
        protocol.data_received(head)
        for piece in pieces:
            for _ in range(100):
                if not transport.paused:
                    break
                await asyncio.sleep(0)
            assert not transport.paused, "the app never resumed the reading"
            protocol.data_received(piece)
        for _ in range(100):
            await asyncio.sleep(0)
        assert transport.written.startswith(b"HTTP/1.1 204"), transport.written
        protocol.connection_lost(None)
        return transport

    return received, asyncio.run(scenario())


def _body(size: int) -> bytes:
    return bytes(range(256)) * (size // 256)


def _pieces(data: bytes) -> list[bytes]:
    return [data[i : i + PIECE] for i in range(0, len(data), PIECE)]


def test_a_body_declared_within_the_limit_reaches_the_app_whole_without_pausing_the_reading() -> None:
    body = _body(10 * PIECE)
    head = b"POST /v2/models/wdbc/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    received, transport = _deliver(head, _pieces(body))
    assert [(message["body"], message["more_body"]) for message in received] == [(body, False)]
    assert not transport.ever_paused


def test_a_body_declared_over_the_limit_comes_in_pieces_with_the_reading_paused_meanwhile() -> None:
    body = _body(LIMIT + 4 * PIECE)
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    received, transport = _deliver(head, _pieces(body))
    assert len(received) > len(body) // (2 * PIECE)
    assert b"".join(message["body"] for message in received) == body
    assert transport.ever_paused


def test_a_chunked_body_comes_in_pieces_with_the_reading_paused_meanwhile() -> None:
    body = _body(10 * PIECE)
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in _pieces(body)] + [b"0\r\n\r\n"]
    received, transport = _deliver(head, chunks)
    assert len(received) > 5
    assert b"".join(message["body"] for message in received) == body
    assert transport.ever_paused
