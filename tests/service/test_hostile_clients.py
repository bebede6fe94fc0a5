"""``make attack``'s checks in their short version (``benchmarks/attack.py --quick``), each goal a test.

Every check runs against a real server process (``python -m service``), with raw sockets where HTTP clients
would refuse to misbehave: header limits, slow headers and bodies, idle and surplus connections, memory and
probe latency under saturation, a tampered signed manifest, a Host-built redirect, SIGTERM under load and
SIGHUP, with one process and with two workers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

GOALS = (
    "16 MB header",
    "3 unfinished 16 MB headers",
    "slow headers",
    "slow body",
    "idle keep-alive connection",
    "150 connections sending unfinished headers",
    "SIGINT with a slow body arriving",
    "decoding memory",
    "8 clients, ",
    "model served without a key",
    "decision_threshold 0.5 -> 0.9999 in a signed manifest",
    "GET /metadata/ with Host: evil.example",
    "SIGTERM under load, 1 worker(s)",
    "SIGTERM under load, 2 worker(s)",
    "SIGHUP, 1 worker(s)",
    "SIGHUP, 2 worker(s)",
)


@pytest.fixture(scope="module")
def outcomes(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    report = tmp_path_factory.mktemp("attack") / "outcomes.json"
    completed = subprocess.run(
        [sys.executable, "benchmarks/attack.py", "--quick", "--model-dir", str(model_dir), "--json", str(report)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    print(completed.stdout)
    assert report.exists(), completed.stdout[-3000:] + completed.stderr[-3000:]
    found: list[dict[str, Any]] = json.loads(report.read_text())
    return found


@pytest.mark.parametrize("goal", GOALS)
def test_the_goal_is_met(outcomes: list[dict[str, Any]], goal: str) -> None:
    [outcome] = [outcome for outcome in outcomes if outcome["item"].startswith(goal)]
    assert outcome["met"], f"{outcome['item']}: goal {outcome['goal']!r}, outcome {outcome['outcome']!r}"


def test_no_check_is_left_unlisted(outcomes: list[dict[str, Any]]) -> None:
    assert len(outcomes) == len(GOALS), [outcome["item"] for outcome in outcomes]
