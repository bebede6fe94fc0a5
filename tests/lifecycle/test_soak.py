"""``make soak``'s script, briefly: saturation with 1,000-row batches mixed in, no failed request, flat memory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_short_soak_has_no_failed_request_and_flat_memory(trained: Path) -> None:
    if shutil.which("wrk") is None:
        if os.environ.get("REQUIRE_TOOLS"):
            pytest.fail("wrk is not installed, and REQUIRE_TOOLS is set")
        pytest.skip("wrk is not installed: apt-get install wrk")
    # 20 s measured after 10 s of warm-up; the 10-minute run holds growth to 5 %, a short one is noisier.
    command = [sys.executable, "benchmarks/soak.py", "--seconds", "20", "--warmup", "10", "--batch-every", "20"]
    completed = subprocess.run(
        [*command, "--max-growth", "15", "--model-dir", str(trained)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    assert "| failed requests (warm-up + measured) | 0 |" in completed.stdout
    requests = re.search(r"\| requests \(measured part\) \| (\d+)", completed.stdout)
    assert requests is not None, completed.stdout
    assert int(requests.group(1)) > 100, completed.stdout
