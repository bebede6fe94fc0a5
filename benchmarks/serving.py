"""Serving benchmark: /predict against a bare FastAPI endpoint, in the same run, with a real load generator.

Prints req/s and p50/p99 latency at 1 and 32 connections (wrk, one uvicorn worker per server, the runs
interleaved and repeated so that the machine's noise hits both sides alike), the round-trip time of
1,000- and 10,000-row batches in the named and array forms beside a naive FastAPI app on the same model
(``benchmarks/naive_app.py``), the service's resident memory, and how long it takes from start to ready.
Run it with ``make bench`` or ``python benchmarks/serving.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from sklearn.datasets import load_breast_cancer

from training.pipeline import train_model_dir

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(
    command: list[str], port: int, ready_path: str, log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """Start a server process, wait until ``ready_path`` answers 200, yield it with its start-to-ready time.

    Its output goes to a file: a pipe nobody reads would fill up and stall the server under load.
    """
    started = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = started + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if httpx2.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{command} was not ready within 30 s")
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


def run_wrk(url: str, body: bytes, connections: int, seconds: int, workdir: Path) -> WrkResult:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
    )
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


def batch_round_trip_ms(url: str, body: bytes, repeats: int) -> float:
    """Median wall time of one batch request over keep-alive HTTP, body encoded once beforehand."""
    headers = {"Content-Type": "application/json"}
    timings = []
    with httpx2.Client(timeout=60) as client:
        for attempt in range(repeats + 2):
            started = time.perf_counter()
            response = client.post(url, content=body, headers=headers)
            elapsed = (time.perf_counter() - started) * 1e3
            response.raise_for_status()
            if attempt >= 2:  # the first calls warm up caches and allocators
                timings.append(elapsed)
    return statistics.median(timings)


def ensure_model_dir(requested: Path | None, workdir: Path) -> Path:
    if requested is not None:
        return requested
    latest = ROOT / "models" / "latest"
    if (latest / "manifest.json").exists():
        return latest
    train_model_dir(workdir / "model")
    return workdir / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None, help="default: models/latest, else a fresh model")
    parser.add_argument("--seconds", type=int, default=5, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per configuration")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    data = load_breast_cancer()
    names = [str(name).replace(" ", "_") for name in data.feature_names]
    rows = data.data.tolist()
    one_named = json.dumps(dict(zip(names, rows[0], strict=True))).encode()

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
        os.environ["MODEL_DIR"] = str(model_dir)  # for the naive app
        env_note = f"python {sys.version.split()[0]}, {os.cpu_count()} cores"
        with (
            server(service_cmd, service_port, "/ready", workdir / "service.log") as (service_process, ready_seconds),
            server(bare_cmd, bare_port, "/docs", workdir / "bare.log") as _,
            server(naive_cmd, naive_port, "/docs", workdir / "naive.log") as _,
        ):
            service_url = f"http://127.0.0.1:{service_port}/predict"
            bare_url = f"http://127.0.0.1:{bare_port}/predict"
            print(f"# serving benchmark ({env_note}); wrk -t1, {args.seconds} s x {args.rounds} rounds, medians")
            print(f"service ready {ready_seconds:.2f} s after start, RSS {rss_mb(service_process.pid):.0f} MB")
            for connections in (1, 32):
                results: dict[str, list[WrkResult]] = {"bare": [], "predict": []}
                run_wrk(service_url, one_named, connections, 1, workdir)  # warm-up
                run_wrk(bare_url, one_named, connections, 1, workdir)
                for _ in range(args.rounds):
                    results["bare"].append(run_wrk(bare_url, one_named, connections, args.seconds, workdir))
                    results["predict"].append(run_wrk(service_url, one_named, connections, args.seconds, workdir))
                if any(r.non_2xx for r in results["predict"]):
                    raise RuntimeError("/predict answered non-2xx under load")
                medians = {
                    side: (
                        statistics.median(r.requests_per_second for r in runs),
                        statistics.median(r.p50_ms for r in runs),
                        statistics.median(r.p99_ms for r in runs),
                    )
                    for side, runs in results.items()
                }
                for side, (rps, p50, p99) in medians.items():
                    print(f"{connections:>2} conn  {side:<8} {rps:>9,.0f} req/s  p50 {p50:6.3f} ms  p99 {p99:6.3f} ms")
                ratio = medians["predict"][0] / medians["bare"][0]
                print(f"{connections:>2} conn  /predict = {ratio:.2f}x bare FastAPI")
            for n_rows in (1_000, 10_000):
                batch = [rows[i % len(rows)] for i in range(n_rows)]
                named = json.dumps({"instances": [dict(zip(names, row, strict=True)) for row in batch]}).encode()
                array = json.dumps({"instances": batch}).encode()
                repeats = 30 if n_rows == 1_000 else 10
                naive = batch_round_trip_ms(f"http://127.0.0.1:{naive_port}/predict", array, repeats)
                print(f"{n_rows:>6,} rows array {len(array) / 1e6:5.2f} MB  naive FastAPI   {naive:7.2f} ms")
                for form, body in (("array", array), ("named", named)):
                    elapsed = batch_round_trip_ms(service_url, body, repeats)
                    print(
                        f"{n_rows:>6,} rows {form:<5} {len(body) / 1e6:5.2f} MB  /predict        {elapsed:7.2f} ms"
                        f"  ({naive / elapsed:.1f}x faster than naive)"
                    )
            print(f"service RSS {rss_mb(service_process.pid):.0f} MB after the run")


if __name__ == "__main__":
    main()
