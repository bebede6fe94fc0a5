"""uvicorn's httptools protocol, plus what it lacks against hostile clients and for a clean drain.

uvicorn (0.55) bounds neither the header section (httptools grows a header value by concatenation: a 128 MB
header took 18 s and stalled everyone) nor the time a client may take to send its headers or body (a client
trickling one byte a second held a connection, and a shutdown, forever). Here, per connection:

* the request line and headers are counted as they arrive: past ``max_header_bytes``, 431 and close;
* the headers must arrive within ``header_timeout`` of the request's first byte (or of the connection's
  opening), the body within ``body_timeout`` of the headers: otherwise 408 and close;
* past ``max_connections`` open connections, a new one is answered 503 with ``Retry-After`` and closed;
* a body declared over 64 KiB and within ``max_body_bytes`` is read whole before the app is woken to take it:
  uvicorn wakes the app for every piece that arrives and stops reading past 64 KiB until the app has taken
  them, a turn of the event loop per 64 KiB and a join of the pieces (a body of unknown length still comes in
  pieces, so that the app can count it against its limit as it streams in);
* while the server drains (after SIGTERM) every response says ``Connection: close``, so that clients stop
  reusing their connections before they are closed; when it stops, a request whose body is still arriving
  is answered 503 rather than waited for.

These answers use the service's JSON error shape. A response's head also waits for the first part of its body
and goes out with it in one write (:class:`OneWriteCycle`).
"""

from __future__ import annotations

import asyncio
import http
import logging
from typing import Any

import httptools
from uvicorn._types import ASGISendEvent
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from service.rest.errors import error_body
from service.server.limits import ConnectionLimits

logger = logging.getLogger("service.server")

RETRY_AFTER_SECONDS = 1


class _HeaderSectionTooLargeError(Exception):
    pass


def error_response(status: int, code: str, message: str, *, retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 response in the service's error shape, which closes the connection."""
    body = error_body(code, message)
    head = [
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
    ]
    if retry_after is not None:
        head.append(f"retry-after: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """One connection. ``config`` is a :class:`service.server.graceful.ServerConfig` (it carries the limits)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: ConnectionLimits = getattr(config, "limits")  # noqa: B009  (uvicorn's Config has no such field)
        self._reading_headers = True
        self._header_bytes = 0
        self._parsed_header_bytes = 0
        self._due_part: str | None = None
        """What must happen by ``_due``: the "header" or "body" of a request, or anything at all ("idle")."""
        self._due = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._whole_body: tuple[RequestResponseCycle, bool] | None = None
        """Whether the request of that cycle has a body to read whole (see :meth:`on_body`)."""

    # Connection events -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self.transport = transport  # what connection_lost expects, though the connection was never served
            self._refused = True
            logger.warning(
                "connection refused: %d open", len(self.connections), extra={"event": "too_many_connections"}
            )
            transport.write(
                error_response(
                    503, "too_many_connections", "the server has too many open connections; retry shortly",
                    retry_after=RETRY_AFTER_SECONDS,
                )
            )  # fmt: skip
            transport.close()
            return
        super().connection_made(transport)
        self._arm(self.limits.header_timeout, "header")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._refused:
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._due_part == "idle":
            self._due_part = None
        if self._reading_headers:
            self._header_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if isinstance(error.__context__, _HeaderSectionTooLargeError):
                self._refuse_headers()
            else:
                logger.warning("invalid HTTP request: %s", error.__context__)
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserError:
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._reading_headers and self._header_bytes > self.limits.max_header_bytes:
            self._refuse_headers()  # a header section still unfinished past the limit: stop buffering it

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        self.transport.write(error_response(400, "bad_request", "the request is not valid HTTP/1.1"))
        self.transport.close()

    def shutdown(self) -> None:
        """The server stops: requests fully received are answered; one still arriving gets 503 now."""
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_started and not self._reading_headers:
            self._refuse(
                error_response(
                    503,
                    "shutting_down",
                    "the server is shutting down; retry elsewhere",
                    retry_after=RETRY_AFTER_SECONDS,
                )
            )
            return
        super().shutdown()

    # Parser callbacks ----------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._due_part is None:  # a request follows on a kept-alive connection: its headers are now due
            self._arm(self.limits.header_timeout, "header")

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._disarm()
        super().on_headers_complete()
        if type(self.cycle) is RequestResponseCycle:  # uvicorn's, just built for this request: not started yet
            self.cycle.__class__ = OneWriteCycle
        if getattr(self.server_state, "draining", False) and self.cycle is not None:
            self.cycle.keep_alive = False
        self._arm(self.limits.body_timeout, "body")

    def on_body(self, body: bytes) -> None:
        """uvicorn's, but a body declared over 64 KiB and within ``max_body_bytes`` is gathered without waking the
        app or pausing the reading (``on_message_complete`` wakes the app)."""
        cycle = self.cycle
        whole = self._whole_body
        if whole is None or whole[0] is not cycle:  # the first piece of this request's body
            whole = self._whole_body = (cycle, self._read_whole(cycle))
        if not whole[1] or (self.parser.should_upgrade() and self._should_upgrade()):
            super().on_body(body)
        elif not cycle.response_complete:  # once answered (413, 503), the rest of the body is dropped, as uvicorn does
            cycle.body += body

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_headers = True
        self._header_bytes = 0
        self._parsed_header_bytes = 0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """uvicorn's, with the idle keep-alive connection's deadline on this connection's one timer."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._arm(self.limits.keep_alive_timeout, "idle")

    # Limits ------------------------------------------------------------------------------------------

    def _read_whole(self, cycle: RequestResponseCycle) -> bool:
        for name, value in cycle.scope["headers"]:
            if name == b"content-length":
                return value.isdigit() and HIGH_WATER_LIMIT < int(value) <= self.limits.max_body_bytes
        return False

    def _count_header_bytes(self, size: int) -> None:
        self._parsed_header_bytes += size
        if self._parsed_header_bytes > self.limits.max_header_bytes:
            raise _HeaderSectionTooLargeError

    def _refuse_headers(self) -> None:
        logger.warning(
            "request headers over %d bytes", self.limits.max_header_bytes, extra={"event": "headers_too_large"}
        )
        self._refuse(
            error_response(
                431, "request_header_fields_too_large",
                f"the request line and headers exceed {self.limits.max_header_bytes} bytes",
            )
        )  # fmt: skip

    # One timer per connection, moved lazily: a request sets its deadlines without touching the event loop's
    # timers (three armed and cancelled per request cost more than parsing it); the timer, when it fires early,
    # sets itself again for the deadline now due.

    def _arm(self, seconds: float, part: str) -> None:
        self._due_part = part
        self._due = due = self.loop.time() + seconds
        timer = self._timer
        if timer is None or timer.when() > due:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(due, self._on_timer)

    def _disarm(self) -> None:
        self._due_part = None

    def _on_timer(self) -> None:
        self._timer = None
        part = self._due_part
        if part is None:
            return
        if self.loop.time() < self._due:
            self._timer = self.loop.call_at(self._due, self._on_timer)
            return
        self._due_part = None
        if part == "idle":
            self.timeout_keep_alive_handler()
        else:
            self._timed_out(part)

    def _timed_out(self, part: str) -> None:
        if self.transport.is_closing():
            return
        logger.info("request %s not received in time", part, extra={"event": f"{part}_timeout"})
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and (part == "header" or cycle.response_started):
            # A request on this connection is being answered: let it finish, then close the connection.
            cycle.keep_alive = False
            return
        if cycle is not None and cycle.response_complete and part == "body":
            self._refuse(b"")  # answered early (e.g. 413) while the body still trickles in
            return
        timeout = self.limits.header_timeout if part == "header" else self.limits.body_timeout
        self._refuse(error_response(408, "request_timeout", f"the request {part} took over {timeout:g} s"))

    def _refuse(self, response: bytes) -> None:
        """Answer ``response`` (if any), stop the request's app task from answering too, and close."""
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app sees a disconnect; its answer would come too late
            self.cycle.message_event.set()
        if response:
            self.transport.write(response)
        self.transport.close()


class OneWriteCycle(RequestResponseCycle):
    """uvicorn's request-response cycle, but the response's head is held until the first part of its body and
    written with it: one system call and one TCP segment for a small answer instead of two. uvicorn builds
    and checks the head and the body as usual; only the transport it writes to stands in for a moment.
    """

    _held_head = b""

    async def send(self, message: ASGISendEvent) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()  # before the transport stands in, so that nothing else writes meanwhile
        transport = self.transport
        starting = message["type"] == "http.response.start"
        holder = _HeadHolder(transport, self._held_head, holding=starting)
        self.transport = holder  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = transport
            if starting:
                self._held_head = holder.head
            else:
                holder.flush()  # a body with no write of its own (a HEAD request's) still gets its head out
                self._held_head = b""


class _HeadHolder:
    """The transport while the cycle sends one message: a head is kept; any other write takes it along."""

    __slots__ = ("head", "holding", "transport")

    def __init__(self, transport: asyncio.Transport, head: bytes, *, holding: bool) -> None:
        self.transport = transport
        self.head = head
        self.holding = holding
        """True while the head is being sent: its one write is kept."""

    def write(self, data: bytes) -> None:
        if self.holding:
            self.head = data
            return
        head = self.head
        if head:
            self.head = b""
            self.transport.writelines((head, data))
        else:
            self.transport.write(data)

    def flush(self) -> None:
        if self.head:
            head, self.head = self.head, b""
            self.transport.write(head)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()
