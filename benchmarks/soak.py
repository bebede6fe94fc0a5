"""Soak: the service at saturation for a long run, with 1,000-row batches mixed in; memory must stay flat.

Starts ``python -m service`` as deployed (access log on, written to a file), saturates it with wrk (single
records, one 1,000-row batch every ``--batch-every`` requests on each connection), and samples the resident
memory of every server process. After ``--warmup`` seconds (allocators and caches settle) the memory is the
baseline; the growth reported is the largest over the processes of (RSS at the end - baseline) / baseline.
Prints one table; exits 1 if any request failed (non-2xx or socket error) or the growth is over
``--max-growth`` percent. ``make soak`` runs it for 10 minutes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from neuralnet.artifacts import read_manifest
from training.pipeline import train_model_dir

ROOT = Path(__file__).resolve().parent.parent

LUA = """
local single, batch = %s, %s
local every = %d
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  if n %% every == 0 then return wrk.format(nil, nil, nil, batch) end
  return wrk.format(nil, nil, nil, single)
end
"""


def bodies(model_dir: Path, batch_rows: int) -> tuple[bytes, bytes]:
    """One named record and a batch of array records, drawn inside the training ranges (fixed seed)."""
    features = read_manifest(model_dir).features
    low = np.array([f.training_min for f in features])
    high = np.array([f.training_max for f in features])
    rows = np.random.default_rng(0).uniform(low, high, size=(batch_rows, len(features)))
    single = {f.api_name: float(v) for f, v in zip(features, rows[0], strict=True)}
    return json.dumps(single).encode(), json.dumps({"instances": rows.tolist()}).encode()


@contextmanager
def server(command: list[str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The service process, once ``/ready`` answers; its output goes to ``log`` (an unread pipe would fill up)."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not become ready:\n{log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server_pids(parent: int) -> list[int]:
    """The server process and its workers (children), if any."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    found = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    return [parent, *found]


def run_wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, int | float]:
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    requests = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if requests is None:
        raise RuntimeError(f"wrk printed no request count:\n{output}")
    return {
        "requests": int(requests.group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in sockets.groups()) if sockets else 0,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600, help="measured run after the warm-up (default: 600)")
    parser.add_argument("--warmup", type=float, default=60, help="warm-up before the baseline (default: 60)")
    parser.add_argument("--workers", type=int, default=1, help="service worker processes (default: 1)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default: 16)")
    parser.add_argument("--batch-every", type=int, default=50, help="one 1,000-row batch per N requests")
    parser.add_argument("--max-growth", type=float, default=5.0, help="RSS growth allowed, percent (default: 5)")
    parser.add_argument("--model-dir", type=Path, default=None, help="model to serve (default: one trained now)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    with tempfile.TemporaryDirectory(prefix="wdbc-soak-") as tmp:
        workdir = Path(tmp)
        model_dir = args.model_dir
        if model_dir is None:
            model_dir = workdir / "model"
            train_model_dir(model_dir, preset="default", random_state=0, cv_repeats=0)
        single, batch = bodies(model_dir, 1000)
        script = workdir / "soak.lua"
        script.write_text(LUA % (json.dumps(single.decode()), json.dumps(batch.decode()), args.batch_every))
        port = free_port()
        command = [sys.executable, "-m", "service", "--port", str(port), "--workers", str(args.workers)]
        os.environ["MODEL_DIR"] = str(model_dir)  # the server inherits the environment
        url = f"http://127.0.0.1:{port}/predict"
        with server(command, port, workdir / "server.log") as process:
            pids = server_pids(process.pid)
            warmup = run_wrk(url, script, args.connections, args.warmup)
            baseline = {pid: rss_mb(pid) for pid in pids}
            peak = dict(baseline)
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(1.0):
                    for pid in pids:
                        peak[pid] = max(peak[pid], rss_mb(pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            measured = run_wrk(url, script, args.connections, args.seconds)
            stop.set()
            sampler.join()
            final = {pid: rss_mb(pid) for pid in pids}
            if process.poll() is not None:
                raise RuntimeError(f"the service exited during the soak:\n{(workdir / 'server.log').read_text()}")

    growth = max((final[pid] - baseline[pid]) / baseline[pid] * 100 for pid in pids)
    errors = int(warmup["non_2xx"] + warmup["socket_errors"] + measured["non_2xx"] + measured["socket_errors"])
    batches = int(measured["requests"]) // args.batch_every
    today = datetime.date.today().isoformat()
    print(
        f"# soak ({today}): python benchmarks/soak.py --seconds {args.seconds:g} --warmup {args.warmup:g}"
        f" --workers {args.workers} --connections {args.connections} --batch-every {args.batch_every}"
    )
    print("| measure | value |")
    print("|---|---|")
    requests = f"{int(measured['requests'])} ({measured['rps']:.0f}/s), ~{batches} of 1,000 rows"
    print(f"| requests (measured part) | {requests} |")
    print(f"| failed requests (warm-up + measured) | {errors} |")
    for pid in pids:
        rss = f"{baseline[pid]:.1f} / {peak[pid]:.1f} / {final[pid]:.1f}"
        print(f"| RSS of pid {pid}: after warm-up / peak / end (MB) | {rss} |")
    print(f"| RSS growth after warm-up (largest, %) | {growth:.2f} |")
    ok = errors == 0 and growth <= args.max_growth
    print("PASS" if ok else f"FAIL: {errors} failed requests, growth {growth:.2f} % (limit {args.max_growth:g} %)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
