"""Several worker processes on one socket, supervised: signals forwarded, a crashed worker replaced.

uvicorn's own supervisor restarts every worker on SIGHUP (onto whatever model is on disk then: a broken one
gave 503 on every request while /health said 200) and cannot run our server class in its workers. This one
forwards SIGTERM, SIGINT and SIGHUP to the workers, which drain or reload themselves
(:mod:`service.server.graceful`), replaces a worker that died unasked, and exits 0 once all have stopped.
Workers run in their own process group, so a terminal's Ctrl+C reaches them once, through here.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

from uvicorn.config import STARTUP_FAILURE

from service.server.graceful import GracefulServer, ServerConfig

logger = logging.getLogger("service.server")

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
KILL_MARGIN_SECONDS = 5.0
"""After grace plus drain timeout, a worker still running this much later is killed."""


def serve_worker(config: ServerConfig, sock: socket.socket, parent_pid: int) -> None:
    """A worker process's entry point (module level: it is pickled by reference)."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the server installs its handlers
    GracefulServer(config, parent_pid=parent_pid).run(sockets=[sock])


class WorkerPool:
    def __init__(self, config: ServerConfig, workers: int) -> None:
        self.config = config
        self.size = workers
        self._context = multiprocessing.get_context("spawn")
        self._received: list[int] = []
        self._stop_deadline: float | None = None

    def run(self) -> int:
        sock = self.config.bind_socket()
        for number in FORWARDED:
            signal.signal(number, self._queue)
        workers = [self._start(sock) for _ in range(self.size)]
        failed = False
        while any(worker.is_alive() for worker in workers) or self._stop_deadline is None:
            time.sleep(0.1)
            for number in self._take_signals():
                if number in (signal.SIGTERM, signal.SIGINT) and self._stop_deadline is None:
                    grace = self.config.shutdown_grace if number == signal.SIGTERM else 0.0
                    timeout = self.config.timeout_graceful_shutdown or 0.0
                    self._stop_deadline = time.monotonic() + grace + timeout + KILL_MARGIN_SECONDS
                self._forward(number, workers)
            if self._stop_deadline is None:
                failed = self._replace_dead(workers, sock)
                if failed:
                    self._stop_deadline = time.monotonic()
                    self._forward(signal.SIGTERM, workers)
            elif time.monotonic() > self._stop_deadline:
                for worker in workers:
                    if worker.is_alive():
                        logger.error("worker %s did not stop in time; killed", worker.pid, extra={"event": "killed"})
                        worker.kill()
                failed = True
                break
        for worker in workers:
            worker.join()
        sock.close()
        logger.info("all workers stopped", extra={"event": "stopped"})
        return 1 if failed else 0

    def _start(self, sock: socket.socket) -> BaseProcess:
        worker = self._context.Process(target=serve_worker, args=(self.config, sock, os.getpid()), daemon=False)
        worker.start()
        return worker

    def _queue(self, number: int, _: FrameType | None) -> None:
        self._received.append(number)

    def _take_signals(self) -> list[signal.Signals]:
        taken, self._received[:] = [signal.Signals(number) for number in self._received], []
        return taken

    def _forward(self, number: int, workers: list[BaseProcess]) -> None:
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, number)

    def _replace_dead(self, workers: list[BaseProcess], sock: socket.socket) -> bool:
        """Replace each worker that died unasked; True if one could not even start (the app cannot start)."""
        for index, worker in enumerate(workers):
            if worker.is_alive():
                continue
            if worker.exitcode == STARTUP_FAILURE:
                logger.error("worker %s failed to start; stopping", worker.pid, extra={"event": "startup_failed"})
                return True
            logger.error(
                "worker %s died (exit status %s); starting another", worker.pid, worker.exitcode,
                extra={"event": "worker_died"},
            )  # fmt: skip
            workers[index] = self._start(sock)
        return False
