"""What one API process needs, to size a pod's CPU and memory requests and limits (deploy/kubernetes).

Starts ``python -m service`` (one uvicorn worker, as in the image), then loads it with wrk: single named records,
then the largest batches it accepts (10,000 rows, named and as arrays). For each phase it prints the CPU the
process used (cores: CPU seconds over wall seconds), its resident memory at the end and the peak so far (VmHWM).
Run it with ``make bench-footprint`` or ``python benchmarks/footprint.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from sklearn.datasets import load_breast_cancer

# Run as a script, this folder is first on sys.path; the repository root makes the serving benchmark's helpers
# importable under their package name.
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from benchmarks.serving import ensure_model_dir, free_port, run_wrk, server

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident memory now and its peak since the process started, in MB."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None, help="default: models/latest, else a fresh model")
    parser.add_argument("--seconds", type=int, default=15, help="duration of each load phase")
    parser.add_argument("--batch-connections", type=int, default=4, help="concurrent 10,000-row requests")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    data = load_breast_cancer()
    names = [str(name).replace(" ", "_") for name in data.feature_names]
    rows = data.data.tolist()
    batch = [rows[i % len(rows)] for i in range(10_000)]
    phases = [
        ("1 named record, 8 connections", json.dumps(dict(zip(names, rows[0], strict=True))).encode()),
        (f"10,000 rows as arrays, {args.batch_connections} connections", json.dumps({"instances": batch}).encode()),
        (
            f"10,000 named rows, {args.batch_connections} connections",
            json.dumps({"instances": [dict(zip(names, row, strict=True)) for row in batch]}).encode(),
        ),
    ]

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        command = [sys.executable, "-m", "service", "--port", str(port)]
        command += ["--model-dir", str(ensure_model_dir(args.model_dir, workdir))]
        with server(command, port, "/ready", workdir / "service.log") as (process, ready_seconds):
            time.sleep(1)
            rss, peak = memory_mb(process.pid)
            print(f"# footprint of one API process (python {sys.version.split()[0]}, {os.cpu_count()} cores)")
            print(f"ready after {ready_seconds:.2f} s; idle: RSS {rss:.0f} MB")
            url = f"http://127.0.0.1:{port}/predict"
            for (label, body), connections in zip(
                phases, (8, args.batch_connections, args.batch_connections), strict=True
            ):
                cpu_before, wall_before = cpu_seconds(process.pid), time.perf_counter()
                result = run_wrk(url, body, connections, args.seconds, workdir)
                cores = (cpu_seconds(process.pid) - cpu_before) / (time.perf_counter() - wall_before)
                rss, peak = memory_mb(process.pid)
                failed = f", {result.non_2xx} non-2xx" if result.non_2xx else ""
                print(
                    f"{label}: {result.requests_per_second:,.0f} req/s, CPU {cores:.2f} cores, "
                    f"RSS {rss:.0f} MB (peak {peak:.0f} MB){failed}"
                )


if __name__ == "__main__":
    main()
