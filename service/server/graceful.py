"""A uvicorn server that drains on SIGTERM, reloads on SIGHUP, and exits 0.

uvicorn alone, on SIGTERM, closes its socket at once and resets the keep-alive connections that are idle at
that instant (requests already on their way to them fail), then re-raises the signal, so the process ends
with status -15; SIGHUP, which uvicorn does not handle, kills a single process. Here:

* SIGTERM: the app reports not-ready at once (:class:`service.lifecycle.Lifecycle`), every response says
  ``Connection: close``, and the socket keeps accepting for ``shutdown_grace`` seconds, the time a load
  balancer takes to stop sending (Kubernetes removes the pod from its endpoints while this runs). Then it
  stops accepting, answers every request already received, closes idle connections, waits at most
  ``shutdown_timeout`` seconds for the rest, and exits 0. SIGINT (Ctrl+C) skips the grace; a second one
  forces the exit.
* SIGHUP: the app's reload hook runs in a thread; the process and its connections are untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Generator
from typing import Any

from uvicorn.config import Config
from uvicorn.server import Server, ServerState

from service.lifecycle import Lifecycle
from service.server.limits import ConnectionLimits

logger = logging.getLogger("service.server")


class ServerConfig(Config):
    """uvicorn's configuration plus what the protocol and the graceful server read."""

    def __init__(
        self,
        app: Callable[[], Any],
        *,
        limits: ConnectionLimits,
        lifecycle: Lifecycle,
        shutdown_grace: float,
        **options: Any,
    ) -> None:
        super().__init__(
            app,
            factory=True,
            http="service.server.protocol:GuardedHttpToolsProtocol",
            timeout_keep_alive=limits.keep_alive_timeout,  # type: ignore[arg-type]  # uvicorn annotates int
            **options,
        )
        self.limits = limits
        self.lifecycle = lifecycle
        self.shutdown_grace = shutdown_grace


class DrainingServerState(ServerState):
    def __init__(self) -> None:
        super().__init__()
        self.draining = False


class GracefulServer(Server):
    def __init__(self, config: ServerConfig, *, parent_pid: int | None = None) -> None:
        super().__init__(config)
        self.config: ServerConfig = config
        self.server_state: DrainingServerState = DrainingServerState()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._parent_pid = parent_pid
        """A worker's supervisor: if it disappears (killed), the worker drains instead of serving on, orphaned."""

    async def on_tick(self, counter: int) -> bool:
        if self._parent_pid is not None and counter % 10 == 0 and os.getppid() != self._parent_pid:
            self._parent_pid = None
            self._drain(0.0, "supervisor gone")
        return await super().on_tick(counter)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Our handlers instead of uvicorn's, which re-raise the signal at the end (exit status -15)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._loop = asyncio.get_running_loop()
        handlers = {signal.SIGTERM: self._terminate, signal.SIGINT: self._interrupt, signal.SIGHUP: self._reload}
        for number, handler in handlers.items():
            self._loop.add_signal_handler(number, handler)
        try:
            yield
        finally:
            for number in handlers:
                self._loop.remove_signal_handler(number)

    def _terminate(self) -> None:
        self._drain(self.config.shutdown_grace, "SIGTERM")

    def _interrupt(self) -> None:
        if self.server_state.draining:
            self.force_exit = True
            self.should_exit = True
            return
        self._drain(0.0, "SIGINT")

    def _drain(self, grace: float, signal_name: str) -> None:
        if self.server_state.draining:
            return
        self.server_state.draining = True
        self.config.lifecycle.begin_draining()
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            if cycle is not None and not cycle.response_complete:
                cycle.keep_alive = False  # answered with Connection: close
        logger.info(
            "%s: not ready; accepting connections for %g s more, then draining (at most %g s)",
            signal_name,
            grace,
            self.config.timeout_graceful_shutdown,
            extra={"event": "draining"},
        )
        assert self._loop is not None
        self._loop.call_later(grace, self._stop_accepting)

    def _stop_accepting(self) -> None:
        self.should_exit = True  # uvicorn's main loop notices within 0.1 s and runs its shutdown

    def _reload(self) -> None:
        logger.info("SIGHUP: reloading", extra={"event": "reload_requested"})
        assert self._loop is not None
        self._loop.run_in_executor(None, self.config.lifecycle.reload)
