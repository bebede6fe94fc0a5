"""What the server process tells the app about its life: that it is draining, and that a reload was asked for.

The server runner flips :attr:`Lifecycle.draining` on SIGTERM (readiness then answers 503 at once) and calls
:meth:`Lifecycle.reload` on SIGHUP; the app registers what a reload does. One instance per process. Under
another server, the app routes SIGHUP to its own lifecycle (:func:`reload_on_sighup`) while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable

logger = logging.getLogger("service.lifecycle")


class Lifecycle:
    def __init__(self) -> None:
        self.draining = False
        self._reload_hook: Callable[[], object] | None = None
        self._reloading = threading.Lock()

    def __reduce__(self) -> tuple[type[Lifecycle], tuple[()]]:
        """A worker process gets a fresh one (a lock cannot cross processes; the state is per process anyway)."""
        return (Lifecycle, ())

    def begin_draining(self) -> None:
        self.draining = True

    def on_reload(self, hook: Callable[[], object]) -> None:
        """Register what SIGHUP does (the app's model reload). It runs in a worker thread, one at a time."""
        self._reload_hook = hook

    def reload(self) -> None:
        """Run the reload hook; never raises (a failed reload must not take the process down)."""
        hook = self._reload_hook
        if hook is None:
            logger.info("reload requested; this service has nothing to reload", extra={"event": "reload_ignored"})
            return
        if not self._reloading.acquire(blocking=False):
            logger.info("reload requested while one runs; ignored", extra={"event": "reload_ignored"})
            return
        try:
            hook()
        except Exception as error:
            logger.error("reload failed: %r", error, exc_info=error, extra={"event": "reload_failed"})
        finally:
            self._reloading.release()


def reload_on_sighup(lifecycle: Lifecycle) -> Callable[[], None]:
    """Route SIGHUP to ``lifecycle.reload``, in a worker thread, on the running event loop; returns the undo.

    For an app served by another server (plain uvicorn leaves SIGHUP at its default, which ends the process);
    ``python -m service``'s server routes SIGHUP to the lifecycle itself (``service.server.graceful``). Does
    nothing off the main thread (an app served by a test client, say).
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()

    def reload_in_a_thread() -> None:
        logger.info("SIGHUP: reloading", extra={"event": "reload_requested"})
        loop.run_in_executor(None, lifecycle.reload)

    def remove() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    loop.add_signal_handler(signal.SIGHUP, reload_in_a_thread)
    return remove
