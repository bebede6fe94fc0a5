"""The benchmark scripts run, briefly, exactly as ``make bench`` and ``make bench-training`` start them.

They print figures rather than assert timings; this only proves that they start and finish (a broken import
or a renamed function fails here, not in the hands of whoever wants the figures).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from training.pipeline import train_model_dir

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
PROJECT_PACKAGES = ("neuralnet", "service", "training")


def _run_script(*args: str, timeout: float) -> str:
    """``python benchmarks/<script>``, from the repository root, as the Makefile runs it."""
    completed = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    return completed.stdout


def test_no_benchmark_module_shadows_a_project_package() -> None:
    """A script's own folder comes first on ``sys.path``: ``benchmarks/training.py`` would hide ``training``."""
    shadowing = [path.name for path in BENCHMARKS.glob("*.py") if path.stem in PROJECT_PACKAGES]
    assert shadowing == []


@pytest.mark.parametrize(
    "script", sorted(path.name for path in BENCHMARKS.glob("*.py") if "__main__" in path.read_text())
)
def test_every_benchmark_script_imports_and_parses_its_arguments(script: str) -> None:
    assert "usage:" in _run_script(f"benchmarks/{script}", "--help", timeout=120)


@pytest.mark.slow
def test_the_training_benchmark_runs_briefly() -> None:
    output = _run_script(
        "benchmarks/stacked_training.py",
        "--folds",
        "1",
        "--repeats",
        "1",
        "--seed-epochs",
        "20",
        "--no-full-run",
        timeout=300,
    )
    assert output.count("same weights: True") == 2, output


@pytest.mark.slow
def test_the_serving_benchmark_runs_briefly(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        if os.environ.get("REQUIRE_TOOLS"):
            pytest.fail("wrk is not installed, and REQUIRE_TOOLS is set")
        pytest.skip("wrk is not installed: apt-get install wrk")
    model_dir = tmp_path / "model"
    train_model_dir(model_dir, preset="seed", random_state=0, cv_repeats=0)
    output = _run_script(
        "benchmarks/serving.py", "--seconds", "1", "--rounds", "1", "--model-dir", str(model_dir), timeout=600
    )
    assert "bare FastAPI" in output, output
