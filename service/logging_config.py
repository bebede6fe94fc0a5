"""JSON log lines on stderr: one object per line, for the access log and everything else alike."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from functools import lru_cache
from typing import Any, TextIO

import orjson

ACCESS_LOGGER = "service.access"
PENDING_SECONDS = 0.02
"""How long an access line logged on an event loop may wait to be written with the lines that follow it."""
PENDING_LINES = 256
"""How many lines may wait: the next one writes them all."""

_HEAD_KEYS = frozenset({"time", "level", "logger", "message"})
"""What every line starts with; ``log_fields`` leaves lines whose fields use these names to ``logging``."""
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


@lru_cache(maxsize=4)
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _timestamp(created: float) -> str:
    """ISO 8601 UTC with milliseconds, e.g. ``2026-11-22T08:15:00.123Z`` (the second is formatted once)."""
    seconds = int(created)
    return f"{_second(seconds)}.{int((created - seconds) * 1000):03d}Z"


class JSONFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra fields, "exception"?}`` as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        attributes = record.__dict__
        for key in attributes.keys() - _RESERVED:
            if not key.startswith("_"):
                entry[key] = attributes[key]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()


class _ServiceHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler this module installs (configuring twice replaces it rather than adding another).

    Lines that :func:`log_fields` writes on an event loop wait in ``pending`` for at most
    :data:`PENDING_SECONDS`, or until :data:`PENDING_LINES` wait, and are then written all at once: one write to
    the stream for many requests, instead of one each (a write costs more than building a line). Anything else
    written through the handler, and its ``flush`` (which ``logging`` calls at exit), writes the waiting lines
    first, so the stream keeps the order in which lines were logged.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.pending: list[str] = []
        self._flush_loop: asyncio.AbstractEventLoop | None = None
        """The loop on which a flush of the waiting lines is scheduled, if any."""

    def emit(self, record: logging.LogRecord) -> None:
        if self.pending:
            self.write_pending()
        super().emit(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self.pending:
                self.write_pending()
        super().flush()

    def write_line(self, line: str, loop: asyncio.AbstractEventLoop | None) -> None:
        with self.lock:  # type: ignore[union-attr]
            if loop is None:
                self.stream.write(line)
                self.stream.flush()
                return
            pending = self.pending
            pending.append(line)
            if len(pending) >= PENDING_LINES:
                self.write_pending()
            elif self._flush_loop is not loop:
                self._flush_loop = loop
                loop.call_later(PENDING_SECONDS, self.flush)

    def write_pending(self) -> None:
        """Write the waiting lines (the caller holds the lock)."""
        self._flush_loop = None
        lines, self.pending = self.pending, []
        self.stream.write("".join(lines))
        self.stream.flush()


def log_fields(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """``logger.log(level, message, extra=fields)`` at a fraction of the cost, for lines logged on every request.

    When the line would go only to this module's handlers (the configuration ``configure_logging`` sets up),
    it is written to them directly, exactly as the ``JSONFormatter`` would write it (on an event loop, with the
    lines of the next moments: see ``_ServiceHandler``); otherwise it goes through ``logging`` (still without
    looking up the caller's frame, a third of that cost).
    """
    if not logger.isEnabledFor(level):
        return
    handlers = _direct_handlers(logger, level)
    if handlers is None or not fields or not _HEAD_KEYS.isdisjoint(fields):
        logger.handle(logger.makeRecord(logger.name, level, "", 0, message, (), None, extra=fields))
        return
    head = _line_head(logger.name, level, message)
    body = orjson.dumps(fields, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    line = f'{{"time":"{_timestamp(time.time())}",{head}{body[1:]}\n'
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    for handler in handlers:
        handler.write_line(line, loop)


@lru_cache(maxsize=64)
def _line_head(name: str, level: int, message: str) -> str:
    """``"level":...,"logger":...,"message":...,`` of a line, encoded once."""
    head = orjson.dumps({"level": logging.getLevelName(level), "logger": name, "message": message}).decode()
    return head[1:-1] + ","


def _direct_handlers(logger: logging.Logger, level: int) -> list[_ServiceHandler] | None:
    """The handlers a record of ``logger`` reaches, if all are ours and none filters; else None."""
    handlers: list[_ServiceHandler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters and current is logger:
            return None
        for handler in current.handlers:
            if type(handler) is not _ServiceHandler or handler.filters or type(handler.formatter) is not JSONFormatter:
                return None
            if level >= handler.level:
                handlers.append(handler)
        current = current.parent if current.propagate else None
    return handlers


def configure_logging(level: str = "INFO") -> None:
    """Send every log record, uvicorn's included, to stderr as JSON lines. Call once per process."""
    handler = _ServiceHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _ServiceHandler):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Thread, process and process-name lookups on every record; none of them is written.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # The service writes its own access line (with request id and route); uvicorn's would duplicate it.
    logging.getLogger("uvicorn.access").disabled = True
