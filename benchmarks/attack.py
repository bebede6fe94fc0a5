"""``make attack``: hostile clients against a real server process, each outcome printed beside its goal.

Every check starts ``python -m service`` on a free port and speaks raw sockets or HTTP to it: oversized and
unfinished headers, slow headers and bodies, idle and surplus connections, saturation with the largest batch
(peak RSS from the kernel's high-water mark), a tampered signed manifest, a Host-built redirect, SIGTERM under
load (one process and two workers; exit time reported) and SIGHUP. ``--quick`` runs short versions with short
timeouts and generous latency bounds (the CI test runs it); the default sizes replay the figures of the
original report. Exits 1 if any goal is missed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
KEY = "attack-signing-key-" + "x" * 20
SLOW_BODY_START = (
    b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n["
)
SERVICE_VARIABLES = ("MODEL_DIR", "MAX_BATCH_ROWS", "MAX_BODY_BYTES", "API_KEY", "PROMETHEUS_MULTIPROC_DIR",
                     "MODEL_SIGNING_KEY", "MODEL_SIGNING_KEY_PREVIOUS", "INSTANCE_NAME")  # fmt: skip


@dataclass(frozen=True)
class Scale:
    """Sizes and bounds of one run: the full replay, or the short version CI runs."""

    header_mb: tuple[int, ...]
    unfinished_headers: int
    slow_connections: int
    saturation_clients: int
    saturation_seconds: float
    latency_p99_ms: float
    server_env: dict[str, str] = field(default_factory=dict)


FULL = Scale((16, 128), 10, 2000, 24, 20.0, 100.0, {"MAX_CONNECTIONS": "1000"})
QUICK = Scale(
    (16,), 3, 150, 8, 4.0, 2500.0,
    {"HEADER_TIMEOUT": "1", "BODY_TIMEOUT": "2", "KEEP_ALIVE_TIMEOUT": "1", "MAX_CONNECTIONS": "100",
     "SHUTDOWN_GRACE": "1", "SHUTDOWN_TIMEOUT": "5"},
)  # fmt: skip


@dataclass
class Outcome:
    item: str
    goal: str
    outcome: str
    met: bool


# The server process --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self, field_name: str) -> int:
        """A ``/proc/<pid>/status`` figure in kB (VmRSS: now; VmHWM: peak), summed over the worker processes."""
        total = 0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            with suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(field_name + ":"):
                        total += int(line.split()[1])
        return total

    def stop(self, number: int = signal.SIGTERM, timeout: float = 60.0) -> tuple[int, float]:
        """Send ``number``; return the exit status and the seconds it took to exit."""
        started = time.perf_counter()
        self.process.send_signal(number)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        return code, time.perf_counter() - started


def _children(pid: int) -> list[int]:
    with suppress(OSError):
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


@contextmanager
def running(model_dir: Path, scale: Scale, *args: str, wait_for: str = "/ready", **env: str) -> Iterator[Server]:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="attack-server-", suffix=".log")[1])
    environment = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    environment |= {"ACCESS_LOG": "false", "LOG_LEVEL": "WARNING", **scale.server_env, **env}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "service", "--port", str(port), "--model-dir", str(model_dir), *args]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=output, stderr=output)
    server = Server(process, port, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer {wait_for}:\n{log.read_text()[-3000:]}")
            with suppress(httpx2.TransportError):
                if httpx2.get(server.url + wait_for, timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.unlink(missing_ok=True)


# Helpers ------------------------------------------------------------------------------------------------


class LatencyProbe:
    """Polls ``paths`` from another client while an attack runs; a failed request counts as 60 s."""

    def __init__(self, url: str, paths: tuple[str, ...] = ("/health",), interval: float = 0.02) -> None:
        self.host, port = url.removeprefix("http://").split(":")
        self.port, self.paths, self.interval = int(port), paths, interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LatencyProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for path in self.paths:
                started = time.perf_counter()
                connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
                try:  # a new connection each time, as a health checker makes
                    connection.request("GET", path)
                    ok = connection.getresponse().status == 200
                except OSError:
                    ok = False
                finally:
                    connection.close()
                self.samples.append(time.perf_counter() - started if ok else 60.0)
            self._stop.wait(self.interval)

    def p99_ms(self) -> float:
        if not self.samples:
            return float("nan")
        ordered = sorted(self.samples)
        return 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def read_until_closed(connection: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection (or ``timeout``), and when that happened."""
    started = time.perf_counter()
    connection.settimeout(timeout)
    received = b""
    with suppress(OSError):
        while chunk := connection.recv(65536):
            received += chunk
    return received, time.perf_counter() - started


def status_of(response: bytes) -> str:
    return response.split(b" ", 2)[1].decode() if response.startswith(b"HTTP/1.1 ") else "closed"


def raise_file_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def named_batch(server: Server, rows: int) -> bytes:
    """``rows`` named records (the largest form of a body) with 4-digit values inside the training ranges."""
    features = httpx2.get(server.url + "/metadata").json()["features"]
    generator = random.Random(0)
    records = [
        {f["name"]: float(f"{generator.uniform(f['training_min'], f['training_max']):.4g}") for f in features}
        for _ in range(rows)
    ]
    return json.dumps({"instances": records}, separators=(",", ":")).encode()


def largest_batch(server: Server) -> tuple[int, bytes]:
    """The most named records one request may carry: the row limit, or fewer if the body limit comes first."""
    limits = httpx2.get(server.url + "/metadata").json()["limits"]
    rows = limits["max_batch_rows"]
    body = named_batch(server, rows)
    while len(body) > limits["max_body_bytes"]:
        rows = rows * limits["max_body_bytes"] // len(body)
        body = named_batch(server, rows)
    return rows, body


def post_json(http: httpx2.Client, body: bytes) -> httpx2.Response:
    return http.post("/predict", content=body, headers={"content-type": "application/json"})


# The checks ---------------------------------------------------------------------------------------------


def check_header_limit(model_dir: Path, scale: Scale) -> list[Outcome]:
    outcomes = []
    with running(model_dir, scale) as server:
        for megabytes in scale.header_mb:
            payload = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (megabytes << 20)
            with socket.create_connection(("127.0.0.1", server.port)) as connection, LatencyProbe(server.url) as probe:
                sender = threading.Thread(target=_send_quietly, args=(connection, payload), daemon=True)
                sender.start()
                response, seconds = read_until_closed(connection, 60)
                time.sleep(0.3)
            p99 = probe.p99_ms()
            outcomes.append(
                Outcome(
                    f"{megabytes} MB header",
                    f"431 or close within 1 s; /health p99 < {scale.latency_p99_ms:g} ms meanwhile",
                    f"{status_of(response)} after {seconds:.2f} s; /health p99 {p99:.1f} ms",
                    seconds < 1 and status_of(response) in ("431", "closed") and p99 < scale.latency_p99_ms,
                )
            )
        before = server.status("VmRSS")
        connections = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(scale.unfinished_headers)]
        senders = [
            threading.Thread(target=_send_quietly, args=(c, b"GET / HTTP/1.1\r\nX: " + b"a" * (16 << 20)), daemon=True)
            for c in connections
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(30)
        peak = server.status("VmRSS") - before
        for connection in connections:
            connection.close()
        outcomes.append(
            Outcome(
                f"{scale.unfinished_headers} unfinished 16 MB headers",
                "server RSS grows < 20 MB",
                f"RSS +{peak / 1024:.1f} MB",
                peak < 20 * 1024,
            )
        )
    return outcomes


def _send_quietly(connection: socket.socket, payload: bytes) -> None:
    with suppress(OSError):
        connection.sendall(payload)


def check_slow_clients(model_dir: Path, scale: Scale) -> list[Outcome]:
    env = {"HEADER_TIMEOUT": "2", "BODY_TIMEOUT": "3", "KEEP_ALIVE_TIMEOUT": "2"} if scale is FULL else {}
    header_timeout = float((scale.server_env | env).get("HEADER_TIMEOUT", 10))
    body_timeout = float((scale.server_env | env).get("BODY_TIMEOUT", 30))
    keep_alive = float((scale.server_env | env).get("KEEP_ALIVE_TIMEOUT", 5))
    outcomes = []
    with running(model_dir, scale, **env) as server:
        slow_parts = {
            "slow headers (1 byte every 0.5 s)": (b"GET /health HTTP/1.1\r\n", b"X", header_timeout),
            "slow body (Content-Length 1,000,000, 1 byte every 0.5 s)": (SLOW_BODY_START, b"1", body_timeout),
        }  # fmt: skip
        for item, (start, trickle, limit) in slow_parts.items():
            with socket.create_connection(("127.0.0.1", server.port)) as connection:
                connection.sendall(start)
                stop = threading.Event()
                threading.Thread(target=_trickle, args=(connection, trickle, stop), daemon=True).start()
                response, seconds = read_until_closed(connection, limit + 30)
                stop.set()
            outcomes.append(
                Outcome(
                    item,
                    f"408 or close within {limit:g} s (+1.5)",
                    f"{status_of(response)} after {seconds:.1f} s",
                    seconds < limit + 1.5 and status_of(response) in ("408", "closed"),
                )
            )
        with socket.create_connection(("127.0.0.1", server.port)) as connection:
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            connection.settimeout(10)
            connection.recv(65536)
            _, seconds = read_until_closed(connection, keep_alive + 30)
        outcomes.append(
            Outcome(
                "idle keep-alive connection",
                f"closed after {keep_alive:g} s (+1)",
                f"closed after {seconds:.1f} s",
                seconds < keep_alive + 1,
            )
        )
        outcomes.append(_many_slow_connections(server, scale, header_timeout))
        with socket.create_connection(("127.0.0.1", server.port)) as connection:
            connection.sendall(SLOW_BODY_START)
            time.sleep(0.2)
            code, seconds = server.stop(signal.SIGINT)
        outcomes.append(
            Outcome(
                "SIGINT with a slow body arriving",
                "exit 0 within 5 s, not waiting for the slow body (which gets 503)",
                f"exit {code} after {seconds:.1f} s",
                code == 0 and seconds < 5,
            )
        )
    return outcomes


def _trickle(connection: socket.socket, byte: bytes, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        try:
            connection.sendall(byte)
        except OSError:
            return


def _many_slow_connections(server: Server, scale: Scale, header_timeout: float) -> Outcome:
    raise_file_limit(scale.slow_connections + 200)
    cap = int(scale.server_env.get("MAX_CONNECTIONS", "1000"))
    before = server.status("VmRSS")
    connections = []
    for _ in range(scale.slow_connections):
        with suppress(OSError):
            connection = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            connection.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
            connections.append(connection)
    time.sleep(0.5)
    grown = server.status("VmRSS") - before
    refused = 0
    for connection in connections:
        connection.setblocking(False)
        with suppress(OSError):
            refused += connection.recv(200).startswith(b"HTTP/1.1 503")
    started = time.perf_counter()
    deadline = started + header_timeout + 30
    open_connections = list(connections)
    while open_connections and time.perf_counter() < deadline:
        still_open = []
        for connection in open_connections:
            try:
                data = connection.recv(65536)
            except BlockingIOError:
                still_open.append(connection)
                continue
            except OSError:
                data = b""
            if data:
                still_open.append(connection)
        open_connections = still_open
        time.sleep(0.1)
    seconds = time.perf_counter() - started + 0.5
    for connection in connections:
        connection.close()
    over_cap = len(connections) > cap  # (the first ones may time out before the last ones connect)
    return Outcome(
        f"{scale.slow_connections} connections sending unfinished headers (cap {cap})",
        f"over the cap: 503; all closed by the header timeout ({header_timeout:g} s); RSS < +60 MB",
        f"{refused} of {len(connections)} got 503; all closed after {seconds:.1f} s; RSS +{grown / 1024:.1f} MB",
        (refused > 0) == over_cap and not open_connections and grown < 60 * 1024,
    )


def check_memory(model_dir: Path, scale: Scale) -> list[Outcome]:
    outcomes = []
    with running(model_dir, scale) as server:
        rows, largest = largest_batch(server)
        per_row = []
        with httpx2.Client(base_url=server.url, timeout=120) as http:
            for size in (rows // 10, rows // 2, rows):
                body = named_batch(server, size)
                before = server.status("VmHWM")
                assert post_json(http, body).status_code == 200
                grown = (server.status("VmHWM") - before) / 1024
                per_row.append(f"{size:,} rows ({len(body) / 1e6:.1f} MB): +{grown:.1f} MB")
        outcomes.append(
            Outcome(
                "decoding memory (named records; growth of the peak RSS over the previous peak)",
                "proportional to the data",
                "; ".join(per_row),
                True,
            )
        )
        statuses: dict[int, int] = {}
        retry_after: set[str | None] = set()
        stop = threading.Event()

        def client() -> None:
            with httpx2.Client(base_url=server.url, timeout=120) as http:
                while not stop.is_set():
                    answer = post_json(http, largest)
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                    if answer.status_code == 503:  # as a well-behaved client: wait as told
                        retry_after.add(answer.headers.get("retry-after"))
                        stop.wait(float(answer.headers.get("retry-after", 1)))

        with LatencyProbe(server.url, ("/health", "/ready"), interval=0.05) as probe:
            threads = [threading.Thread(target=client, daemon=True) for _ in range(scale.saturation_clients)]
            for thread in threads:
                thread.start()
            time.sleep(scale.saturation_seconds)
            stop.set()
            for thread in threads:
                thread.join(120)
        peak = server.status("VmHWM") / 1024
        after = server.status("VmRSS") / 1024
        rejected = _metric(httpx2.get(server.url + "/metrics").text, "admission_rejected_total")
        outcomes.append(
            Outcome(
                f"{scale.saturation_clients} clients, {rows:,}-row batches ({len(largest) / 1e6:.1f} MB), "
                f"{scale.saturation_seconds:g} s",
                f"peak RSS < 600 MB; /health and /ready p99 < {scale.latency_p99_ms:g} ms; "
                "503s carry Retry-After and are counted",
                f"peak {peak:.0f} MB, {after:.0f} MB after; p99 {probe.p99_ms():.1f} ms; answers {statuses}; "
                f"Retry-After {sorted(filter(None, retry_after))}; admission_rejected_total {rejected:g}",
                peak < 600
                and probe.p99_ms() < scale.latency_p99_ms
                and statuses.get(200, 0) > 0
                and statuses.get(503, 0) > 0
                and None not in retry_after
                and rejected == statuses.get(503, 0)
                and set(statuses) <= {200, 503},
            )
        )
    return outcomes


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def check_tampering(model_dir: Path, scale: Scale) -> list[Outcome]:
    from neuralnet.artifacts import MANIFEST_FILE, sign_model_dir  # noqa: PLC0415

    outcomes = []
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(shutil.copytree(model_dir, Path(scratch) / "model"))
        (copy / "manifest.sig").unlink(missing_ok=True)
        with running(copy, scale) as server:
            signature = httpx2.get(server.url + "/metadata").json()["signature"]
        outcomes.append(
            Outcome("model served without a key", "/metadata says 'unsigned'", signature, signature == "unsigned")
        )
        sign_model_dir(copy, KEY.encode())
        manifest = copy / MANIFEST_FILE
        manifest.write_text(manifest.read_text().replace('"decision_threshold": 0.5', '"decision_threshold": 0.9999'))
        with running(copy, scale, wait_for="/health", MODEL_SIGNING_KEY=KEY) as server:
            ready = httpx2.get(server.url + "/ready")
            reason = ready.json()["error"]["details"][0]["type"]
        verify = subprocess.run(
            [sys.executable, "-m", "neuralnet.verify", str(copy)], capture_output=True, text=True, check=False,
            env={**os.environ, "MODEL_SIGNING_KEY": KEY}, cwd=ROOT,
        )  # fmt: skip
        outcomes.append(
            Outcome(
                "decision_threshold 0.5 -> 0.9999 in a signed manifest",
                "service unready (503, reason 'signature'); neuralnet.verify exits 1",
                f"/ready {ready.status_code} ({reason}); verify exit {verify.returncode}",
                ready.status_code == 503 and reason == "signature" and verify.returncode == 1,
            )
        )
    return outcomes


def check_redirect(model_dir: Path, scale: Scale) -> list[Outcome]:
    with running(model_dir, scale) as server:
        response = httpx2.get(server.url + "/metadata/", headers={"Host": "evil.example"}, follow_redirects=False)
    location = response.headers.get("location", "")
    return [
        Outcome(
            "GET /metadata/ with Host: evil.example",
            "no redirect built from Host (a relative one, or none)",
            f"{response.status_code}, Location {location!r}",
            "evil" not in location and (not response.is_redirect or location.startswith("/")),
        )
    ]


def check_sigterm_under_load(model_dir: Path, scale: Scale) -> list[Outcome]:
    outcomes = []
    for workers in (1, 2):
        with running(model_dir, scale, "--workers", str(workers), SHUTDOWN_GRACE="2", SHUTDOWN_TIMEOUT="10") as server:
            load = KeepAliveLoad(server.url, named_batch(server, 100))
            with load.running(clients=8):
                time.sleep(1.5)
                signalled = time.perf_counter()
                server.process.send_signal(signal.SIGTERM)
                time.sleep(0.3)
                ready = httpx2.get(server.url + "/ready", timeout=10)
                code = server.process.wait(timeout=60)
                seconds = time.perf_counter() - signalled
        before = [outcome for started, outcome in load.results if started < signalled]
        after = [outcome for started, outcome in load.results if started >= signalled]
        failed = [outcome for outcome in before if outcome != "200"]
        outcomes.append(
            Outcome(
                f"SIGTERM under load, {workers} worker(s), 8 keep-alive clients (grace 2 s)",
                "/ready 503 at once; 0 failed requests sent before the signal; exit 0",
                f"/ready {ready.status_code} ({ready.json()['error']['code'] if ready.status_code == 503 else '-'}); "
                f"{len(before)} sent before: {len(failed)} failed; {after.count('200')} answered 200 after it; "
                f"exit {code} after {seconds:.1f} s",
                ready.status_code == 503 and not failed and code == 0 and len(before) > 0,
            )
        )
    return outcomes


class KeepAliveLoad:
    """Clients posting ``body`` in a loop on keep-alive connections, recording (start time, outcome)."""

    def __init__(self, url: str, body: bytes) -> None:
        self.url, self.body = url, body
        self.results: list[tuple[float, str]] = []
        self._stop = threading.Event()

    @contextmanager
    def running(self, clients: int) -> Iterator[None]:
        threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(30)

    def _client(self) -> None:
        with httpx2.Client(base_url=self.url, timeout=30) as http:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    outcome = str(post_json(http, self.body).status_code)
                except httpx2.ConnectError:
                    outcome = "refused"  # after the grace: the socket is closed, nothing was accepted
                except httpx2.TransportError as error:
                    outcome = type(error).__name__
                self.results.append((started, outcome))
                if outcome == "refused":
                    self._stop.wait(0.05)


def check_sighup(model_dir: Path, scale: Scale) -> list[Outcome]:
    outcomes = []
    for workers in (1, 2):
        with running(model_dir, scale, "--workers", str(workers)) as server:
            server.process.send_signal(signal.SIGHUP)
            time.sleep(2)
            alive = server.process.poll() is None
            ready = httpx2.get(server.url + "/ready").status_code if alive else None
            code, _ = server.stop()
        outcomes.append(
            Outcome(
                f"SIGHUP, {workers} worker(s)",
                "still running and ready; exits 0 on SIGTERM afterwards",
                f"running {alive}, /ready {ready}, exit {code}",
                alive and ready == 200 and code == 0,
            )
        )
    return outcomes


CHECKS: dict[str, Callable[[Path, Scale], list[Outcome]]] = {
    "headers": check_header_limit,
    "slow": check_slow_clients,
    "memory": check_memory,
    "tampering": check_tampering,
    "redirect": check_redirect,
    "sigterm": check_sigterm_under_load,
    "sighup": check_sighup,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short versions, as CI runs them")
    parser.add_argument("--model-dir", type=Path, help="model to serve (default: a fresh one, trained in seconds)")
    parser.add_argument("--only", choices=sorted(CHECKS), action="append", help="run only these checks")
    parser.add_argument("--json", type=Path, help="also write the outcomes to this file")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model_dir
        if model_dir is None:
            from training.pipeline import train_model_dir  # noqa: PLC0415

            model_dir = Path(scratch) / "model"
            train_model_dir(model_dir, cv_repeats=0)
        outcomes: list[Outcome] = []
        for name in args.only or CHECKS:
            try:
                found = CHECKS[name](model_dir, scale)
            except Exception as error:  # one broken check must not hide the others' figures
                found = [Outcome(name, "runs", f"raised {type(error).__name__}: {error}"[:500], False)]
            for outcome in found:
                print(f"{'met   ' if outcome.met else 'MISSED'}  {outcome.item}\n        goal:    {outcome.goal}\n"
                      f"        outcome: {outcome.outcome}", flush=True)  # fmt: skip
            outcomes.extend(found)
    if args.json:
        args.json.write_text(json.dumps([asdict(outcome) for outcome in outcomes], indent=2))
    missed = sum(not outcome.met for outcome in outcomes)
    print(f"\n{len(outcomes) - missed} of {len(outcomes)} goals met ({'quick' if args.quick else 'full'} run)")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
