"""The Makefile as a reader meets it: `make` lists what it can do, `make run` keeps the README's promise
(train if no model exists, then serve), and the editable install it runs prints no setuptools notice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from sklearn.datasets import load_breast_cancer

from tests.live_server import free_port

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)


def make(*args: str) -> str:
    return subprocess.run(["make", "-s", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout


def test_make_help_lists_every_target_and_plain_make_shows_it() -> None:
    listed = re.findall(r"^  make (\S+)", make("help"), flags=re.M)
    phony = re.search(r"^\.PHONY:(.*)$", (REPO / "Makefile").read_text(), flags=re.M)
    assert phony is not None
    assert sorted(listed) == sorted(phony.group(1).split())
    assert all(re.search(rf"^  make {target} +\S", make("help"), flags=re.M) for target in listed), "each described"
    assert make() == make("help")


def test_every_make_target_the_docs_mention_exists() -> None:
    listed = set(re.findall(r"^  make (\S+)", make("help"), flags=re.M))
    documents = [REPO / "README.md", REPO / "ARCHITECTURE.md", *REPO.glob("*/**/*.md")]
    mentioned = {
        (document.relative_to(REPO).as_posix(), target)
        for document in documents
        if ".venv" not in document.parts
        for target in re.findall(r"(?:`|^)make ([a-z][a-z-]*)", document.read_text(), flags=re.M)
    }
    assert {(where, target) for where, target in mentioned if target not in listed} == set()


@pytest.mark.slow
def test_the_editable_install_prints_no_setuptools_notice(tmp_path: Path) -> None:
    """The Makefile's own install command, pointed (pip's ``--python``) at a scratch environment."""
    dry_run = make("-n", "-B", f"{VENV}/.run-deps", f"VENV={VENV}")
    (line,) = [line for line in dry_run.splitlines() if "pip install" in line and " -e " in line]
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    install = line.split(" -e ")[0].replace(" -m pip install", f" -m pip --python {tmp_path}/venv/bin/python install")
    completed = subprocess.run(
        ["bash", "-c", f"{install} --no-deps -e ."], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert (tmp_path / "venv" / "bin" / "wdbc-serve").exists()
    assert "Please be careful" not in completed.stdout + completed.stderr


@pytest.mark.slow
def test_make_run_trains_when_no_model_exists_then_serves(tmp_path: Path) -> None:
    """`make run` on an empty models root: one command, a trained model, a service that predicts."""
    if subprocess.run(["make", "-q", f"VENV={VENV}", f"{VENV}/.run-deps"], cwd=REPO, check=False).returncode:
        pytest.skip(f"{VENV} was not set up by make (its .run-deps is missing or older than pyproject.toml)")
    port, models = free_port(), tmp_path / "models"
    log = tmp_path / "make-run.log"
    command = ["make", "run", f"VENV={VENV}", f"MODEL_DIR={models}/latest", f"PORT={port}"]
    command.append("TRAIN_ARGS=--cv-repeats 0 --quiet")  # the whole protocol's minute is not what is tested
    environment = {k: v for k, v in os.environ.items() if k not in ("MODEL_DIR", "API_KEY", "MODEL_SIGNING_KEY")}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=REPO, env=environment | {"SHUTDOWN_GRACE": "0"}, stdout=sink, stderr=sink,
            start_new_session=True,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, f"make run exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"not ready within 300 s:\n{log.read_text()[-3000:]}"
            try:
                if httpx2.get(base_url + "/ready", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            time.sleep(0.2)
        answer = httpx2.post(base_url + "/predict", json=load_breast_cancer().data[0].tolist(), timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["label"] == "malignant"
        assert answer.json()["model_version"] == (models / "latest").resolve().name
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = log.read_text()
    assert "Traceback" not in output
    assert "Please be careful" not in output
