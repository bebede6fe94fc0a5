"""What one server process allows a connection: header size, read timeouts, idle time, and how many at once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_header_bytes: int
    """Request line plus headers; more gets 431 and the connection closed."""
    header_timeout: float
    """Seconds from a request's first byte (or the connection's opening) to the end of its headers; then 408."""
    body_timeout: float
    """Seconds from the end of the headers to the end of the body; then 408, or a close if answered already."""
    keep_alive_timeout: float
    """Seconds an idle keep-alive connection is kept open."""
    max_connections: int
    """Open connections per process; one more is answered 503 and closed at once."""
    max_body_bytes: int
    """A body declared (``Content-Length``) up to this size is read whole before the app is woken to take it."""
