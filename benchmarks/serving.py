"""Serving benchmark: every protocol against a bare FastAPI endpoint and the model's own compute, in one run.

One record on each protocol (/predict named and array, KServe V1, Open Inference Protocol V2 in JSON and in
binary): req/s at 32 connections as a ratio of a bare FastAPI endpoint that returns a constant
(``benchmarks/bare_app.py``), and p50/p99 latency at 1 connection (wrk, one uvicorn worker per server, the runs
interleaved and repeated so that the machine's noise hits every side alike; medians). Batches of 1,000 and
10,000 rows in each form: the server's time for the request (from its access log) as a ratio of the model's
own compute on the same rows (``predict_proba``, timed in this process right after each request), the round
trip, and the round trip of a naive FastAPI app on the same model (``benchmarks/naive_app.py``). Then where
a request's time goes, in process, and the service's resident memory and start-to-ready time beside the bare
app's. Run it with ``make bench`` or ``python benchmarks/serving.py``.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import logging
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import orjson
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer
from threadpoolctl import threadpool_limits

from training.pipeline import train_model_dir

ROOT = Path(__file__).resolve().parent.parent
MODEL = "wdbc"
HEADER_LENGTH = "Inference-Header-Content-Length"
PARTS = ("one-record", "batches", "in-process")
"""The parts of the run, in order (``--only`` picks some); start and memory are always measured."""


@dataclass(frozen=True)
class Urls:
    service: str
    bare: str
    naive: str


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


@dataclass(frozen=True)
class Case:
    """One way of sending rows: a path, a body and its headers."""

    name: str
    path: str
    body: bytes
    headers: dict[str, str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(
    command: list[str], port: int, ready_path: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """Start a server process, wait until ``ready_path`` answers 200, yield it with its start-to-ready time.

    Its output goes to a file: a pipe nobody reads would fill up and stall the server under load.
    """
    started = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = started + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if httpx2.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{command} was not ready within 60 s")
            time.sleep(0.02)
        yield process, time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=10)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def lua_string(data: bytes) -> str:
    """A Lua string literal of any bytes (binary bodies included)."""
    printable = set(range(32, 127)) - {ord('"'), ord("\\")}
    return '"' + "".join(chr(byte) if byte in printable else f"\\{byte:03d}" for byte in data) + '"'


def run_wrk(
    url: str, body: bytes, connections: int, seconds: int, workdir: Path, *, headers: dict[str, str] | None = None
) -> WrkResult:
    script = workdir / "post.lua"
    headers = {"Content-Type": "application/json"} | (headers or {})
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(body)}"]
    lines += [
        f"wrk.headers[{lua_string(name.encode())}] = {lua_string(value.encode())}" for name, value in headers.items()
    ]
    script.write_text("\n".join(lines) + "\n")
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=_latency_ms(output, "50%"),
        p99_ms=_latency_ms(output, "99%"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def _latency_ms(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no {percentile} latency:\n{output}")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


class AccessLog:
    """The service's access log (JSON lines): the server-side latency of a request, by its request id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._latency: dict[str, float] = {}

    def latency_ms(self, request_id: str) -> float:
        for _ in range(200):
            with self.path.open("rb") as log:
                log.seek(self._offset)
                for line in log:
                    if not line.endswith(b"\n"):
                        break
                    self._offset += len(line)
                    if b'"service.access"' in line:
                        entry = orjson.loads(line)
                        self._latency[entry["request_id"]] = entry["latency_ms"]
            if request_id in self._latency:
                return self._latency.pop(request_id)
            time.sleep(0.01)
        raise RuntimeError(f"request {request_id} is not in the access log")


def median_ms(function: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        timings.append((time.perf_counter() - started) * 1e3)
    return statistics.median(timings)


def batch_cases(rows: NDArray[np.float64], names: list[str]) -> list[Case]:
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "features",
                    "shape": list(rows.shape),
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": rows.nbytes},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    v2_json = orjson.dumps(
        {"inputs": [{"name": "features", "shape": list(rows.shape), "datatype": "FP64", "data": rows.ravel()}]},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    arrays = orjson.dumps({"instances": rows}, option=orjson.OPT_SERIALIZE_NUMPY)
    named = orjson.dumps({"instances": [dict(zip(names, row, strict=True)) for row in rows.tolist()]})
    v2 = f"/v2/models/{MODEL}/infer"
    return [
        Case(
            "V2 binary",
            v2,
            header + rows.astype("<f8").tobytes(),
            {"Inference-Header-Content-Length": str(len(header))},
        ),
        Case("V2 JSON", v2, v2_json, {}),
        Case("V1 arrays", f"/v1/models/{MODEL}:predict", arrays, {}),
        Case("/predict arrays", "/predict", arrays, {}),
        Case("/predict named", "/predict", named, {}),
    ]


def single_cases(row: NDArray[np.float64], names: list[str]) -> list[Case]:
    by_name = {case.name: case for case in batch_cases(row[None, :], names)}
    return [
        Case("/predict named", "/predict", orjson.dumps(dict(zip(names, row.tolist(), strict=True))), {}),
        Case("/predict array", "/predict", orjson.dumps(row.tolist()), {}),
        Case("V1", f"/v1/models/{MODEL}:predict", by_name["V1 arrays"].body, {}),
        Case("V2 JSON", f"/v2/models/{MODEL}/infer", by_name["V2 JSON"].body, {}),
        Case("V2 binary", f"/v2/models/{MODEL}/infer", by_name["V2 binary"].body, by_name["V2 binary"].headers),
    ]


def ensure_model_dir(requested: Path | None, workdir: Path) -> Path:
    if requested is not None:
        return requested
    latest = ROOT / "models" / "latest"
    if (latest / "manifest.json").exists():
        return latest
    train_model_dir(workdir / "model")
    return workdir / "model"


def single_records(urls: Urls, cases: list[Case], seconds: int, rounds: int, workdir: Path) -> None:
    print(f"\n## one record: wrk -t1, {seconds} s per run, {rounds} interleaved rounds, medians")
    print("| endpoint | req/s at 32 conn | x bare FastAPI | p50 at 1 conn (ms) | p99 at 1 conn (ms) |")
    print("|---|---|---|---|---|")
    sides: list[tuple[str, str, Case]] = [("bare FastAPI, a constant", urls.bare + "/predict", cases[0])]
    sides += [(case.name, urls.service + case.path, case) for case in cases]
    results: dict[str, dict[int, list[WrkResult]]] = {name: {1: [], 32: []} for name, _, _ in sides}
    for name, url, case in sides:  # warm-up, and a check that every body is accepted
        if run_wrk(url, case.body, 4, 1, workdir, headers=case.headers).non_2xx:
            raise RuntimeError(f"{name} answered non-2xx")
    for _ in range(rounds):
        for connections in (32, 1):
            for name, url, case in sides:
                results[name][connections].append(
                    run_wrk(url, case.body, connections, seconds, workdir, headers=case.headers)
                )
    bare_rps = statistics.median(r.requests_per_second for r in results[sides[0][0]][32])
    for name, _, _ in sides:
        if any(r.non_2xx for runs in results[name].values() for r in runs):
            raise RuntimeError(f"{name} answered non-2xx under load")
        rps = statistics.median(r.requests_per_second for r in results[name][32])
        p50 = statistics.median(r.p50_ms for r in results[name][1])
        p99 = statistics.median(r.p99_ms for r in results[name][1])
        print(f"| {name} | {rps:,.0f} | {rps / bare_rps:.2f} | {p50:.3f} | {p99:.3f} |")
    print("targets: >= 1.00x bare FastAPI at 32 connections, p99 <= 1 ms at 1 connection")


def batches(urls: Urls, model_dir: Path, rows: NDArray[np.float64], names: list[str], repeats: int) -> None:
    from service.model import ModelRuntime  # noqa: PLC0415  (after the servers started: their start is timed)
    from service.server.allocator import keep_freed_memory  # noqa: PLC0415

    runtime = ModelRuntime.load(model_dir)
    limits = threadpool_limits(limits=1, user_api="blas")  # as the service runs its model
    keep_freed_memory()  # as the service keeps its memory: the model's compute without the page faults it avoids
    targets = {"V2 binary": 1.5, "V2 JSON": 2.0, "V1 arrays": 2.0, "/predict arrays": 2.0, "/predict named": 3.0}
    print(f"\n## batches: medians of {repeats} requests each (server time from the service's access log)")
    print(
        "| rows | form | body MB | server ms | model ms | x model | target | round trip ms "
        "| naive round trip ms | x faster than naive |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    log = AccessLog(Path(os.environ["BENCH_SERVICE_LOG"]))
    with httpx2.Client(timeout=120) as client:
        for n_rows in (1_000, 10_000):
            batch = np.ascontiguousarray(rows[np.arange(n_rows) % len(rows)])
            cases = batch_cases(batch, names)
            naive_body = cases[2].body
            naive_times, model_times = [], []
            server_times: dict[str, list[float]] = {case.name: [] for case in cases}
            trip_times: dict[str, list[float]] = {case.name: [] for case in cases}
            for attempt in range(repeats + 1):  # the first round warms up caches and allocators
                started = time.perf_counter()
                client.post(urls.naive + "/predict", content=naive_body, headers={"Content-Type": "application/json"})
                naive_elapsed = (time.perf_counter() - started) * 1e3
                turn = attempt % len(cases)  # each form in turn comes first after the naive app's request
                for case in cases[turn:] + cases[:turn]:
                    request_id = f"bench-{n_rows}-{attempt}-{len(server_times[case.name])}-{case.name}"
                    request_id = re.sub(r"[^A-Za-z0-9.-]", "-", request_id)
                    headers = {"Content-Type": "application/json", "X-Request-ID": request_id} | case.headers
                    started = time.perf_counter()
                    response = client.post(urls.service + case.path, content=case.body, headers=headers)
                    elapsed = (time.perf_counter() - started) * 1e3
                    response.raise_for_status()
                    server_elapsed = log.latency_ms(request_id)
                    if attempt:
                        trip_times[case.name].append(elapsed)
                        server_times[case.name].append(server_elapsed)
                model_elapsed = median_ms(partial(runtime.model.predict_proba, batch), 3)
                if attempt:
                    naive_times.append(naive_elapsed)
                    model_times.append(model_elapsed)
            naive_ms, model_ms = statistics.median(naive_times), statistics.median(model_times)
            for case in cases:
                server_ms, trip_ms = (
                    statistics.median(server_times[case.name]),
                    statistics.median(trip_times[case.name]),
                )
                print(
                    f"| {n_rows:,} | {case.name} | {len(case.body) / 1e6:.2f} | {server_ms:.2f} | {model_ms:.2f} "
                    f"| {server_ms / model_ms:.2f} | <= {targets[case.name]:.1f} | {trip_ms:.2f} | {naive_ms:.2f} "
                    f"| {naive_ms / trip_ms:.1f} |"
                )
    limits.restore_original_limits()


def where_time_goes(model_dir: Path, rows: NDArray[np.float64], names: list[str], repeats: int) -> None:
    """Decode, infer and encode timed apart, in this process, on the service's own code."""
    from service.dataplane import DataPlane, Limits  # noqa: PLC0415
    from service.metrics import Metrics  # noqa: PLC0415
    from service.protocols.predict import record_codec  # noqa: PLC0415
    from service.protocols.v2 import v2_codec  # noqa: PLC0415
    from service.server.allocator import keep_freed_memory  # noqa: PLC0415

    keep_freed_memory()
    logging.getLogger("service").setLevel(logging.ERROR)  # the service's own log already said how it loaded
    limits = Limits(max_batch_rows=10_000, max_body_bytes=1 << 30)
    dataplane = DataPlane(Metrics(), model_dir=model_dir, model_name=MODEL, limits=limits)
    dataplane.registry.reload()
    served = dataplane.current()
    blas = threadpool_limits(limits=1, user_api="blas")
    gc.collect()
    gc.freeze()  # as the service does once it has started: collections then walk only the requests' objects
    print(f"\n## where the time goes, in process (ms, medians of {repeats})")
    print("| rows | form | decode | infer (model) | encode | total |")
    print("|---|---|---|---|---|---|")
    for n_rows in (1, 1_000, 10_000):
        batch = np.ascontiguousarray(rows[np.arange(n_rows) % len(rows)])
        model_ms = median_ms(partial(served.runtime.model.predict_proba, batch), repeats)
        for case in batch_cases(batch, names):
            if case.path.startswith("/v2"):
                codec = served.derived(v2_codec)
                header = case.headers.get("Inference-Header-Content-Length")
                request = codec.decode(case.body, header)
                decode = median_ms(partial(codec.decode, case.body, header), repeats)
                encode = median_ms(partial(codec.encode, request, dataplane.infer(served, request.rows)), repeats)
            else:
                records = served.derived(record_codec)
                decoded = records.decoder.decode(case.body)
                decode = median_ms(partial(records.decoder.decode, case.body), repeats)
                inference = dataplane.infer(served, decoded.matrix)
                encode = median_ms(partial(records.encoder.encode, inference, batch=True), repeats)
            infer = median_ms(partial(dataplane.infer, served, batch), repeats)
            print(
                f"| {n_rows:,} | {case.name} | {decode:.3f} | {infer:.3f} ({model_ms:.3f}) | {encode:.3f} "
                f"| {decode + infer + encode:.3f} |"
            )
    gc.unfreeze()
    blas.restore_original_limits()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None, help="default: models/latest, else a fresh model")
    parser.add_argument("--seconds", type=int, default=5, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the wrk runs")
    parser.add_argument("--repeats", type=int, default=7, help="requests per batch form and size")
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="run only this part (repeatable; default: every part)"
    )
    args = parser.parse_args()
    parts = set(args.only or PARTS)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    data: Any = load_breast_cancer()
    names = [str(name).replace(" ", "_") for name in data.feature_names]
    rows = np.ascontiguousarray(data.data, dtype=np.float64)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model_dir = ensure_model_dir(args.model_dir, workdir)
        python = sys.executable
        service_port, bare_port, naive_port = free_port(), free_port(), free_port()
        service_cmd = [python, "-m", "service", "--port", str(service_port), "--model-dir", str(model_dir)]
        bare_cmd, naive_cmd = (
            [python, "-m", "uvicorn", app, "--port", str(port), "--log-level", "warning", "--no-access-log"]
            for app, port in (("benchmarks.bare_app:app", bare_port), ("benchmarks.naive_app:app", naive_port))
        )
        environment = {k: v for k, v in os.environ.items() if k not in ("ACCESS_LOG", "API_KEY", "LOG_LEVEL")}
        environment["MODEL_DIR"] = str(model_dir)  # for the naive app
        service_log = workdir / "service.log"
        os.environ["BENCH_SERVICE_LOG"] = str(service_log)
        today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
        print(f"# serving benchmark, {today} (python {sys.version.split()[0]}, {os.cpu_count()} cores)")
        with server(bare_cmd, bare_port, "/docs", workdir / "bare.log", environment) as (bare_process, bare_ready):
            bare_rss = rss_mb(bare_process.pid)
        with (
            server(service_cmd, service_port, "/ready", service_log, environment) as (service_process, ready_seconds),
            server(bare_cmd, bare_port, "/docs", workdir / "bare.log", environment),
            server(naive_cmd, naive_port, "/docs", workdir / "naive.log", environment),
        ):
            service_rss = rss_mb(service_process.pid)
            urls = Urls(*(f"http://127.0.0.1:{port}" for port in (service_port, bare_port, naive_port)))
            if "one-record" in parts:
                single_records(urls, single_cases(rows[0], names), args.seconds, args.rounds, workdir)
            if "batches" in parts:
                batches(urls, model_dir, rows, names, args.repeats)
            after_rss = rss_mb(service_process.pid)
        if "in-process" in parts:
            where_time_goes(model_dir, rows, names, args.repeats)
        print("\n## start and memory")
        print("| | ready after start (s) | RSS at ready (MB) | RSS after the batches (MB) |")
        print("|---|---|---|---|")
        print(f"| service (python -m service) | {ready_seconds:.2f} | {service_rss:.0f} | {after_rss:.0f} |")
        print(f"| bare FastAPI (uvicorn) | {bare_ready:.2f} | {bare_rss:.0f} | |")


if __name__ == "__main__":
    main()
