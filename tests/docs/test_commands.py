"""The commands the docs show, run as a reader types them on a fresh clone after `make run` or `make test`.

Every line of a fenced ``sh`` block in the READMEs and docs/ is either run here (against a real server started by
the docs' own serving command, on a free port) or named in `ELSEWHERE` with the test that runs it; a new command
in the docs needs one or the other. Every ``python`` block runs too, the blocks of one file in order in one
interpreter, as a reader pastes them into one session. (The Kubernetes README's commands need a cluster: its
manifests are rendered and validated by tests/deployment/test_kubernetes_*.py; the Compose README's need Docker.)
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from tests.live_server import free_port
from training.pipeline import train_model_dir

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = (
    "README.md",
    "service/README.md",
    *sorted(path.relative_to(REPO).as_posix() for path in REPO.glob("docs/*.md")),
)
"""The documents whose commands a reader runs from the repository root."""
BIN = Path(sys.executable).parent
DOCUMENTED_PORT = "8000"

ELSEWHERE = {
    "make run": "tests/docs/test_make.py::test_make_run_trains_when_no_model_exists_then_serves",
    "make test": ".ci/run",
    "make": "tests/docs/test_make.py::test_make_help_lists_every_target_and_plain_make_shows_it",
    ".venv/bin/python -m training": (
        "tests/training/test_cli.py::test_cli_exits_0_prints_the_summary_and_logs_progress_on_stderr"
    ),
}
"""Commands run by another test (a command matches by its first words; ``--help`` always runs here)."""


@dataclass(frozen=True)
class Block:
    document: str
    language: str
    text: str


def blocks() -> list[Block]:
    found = []
    for document in DOCUMENTS:
        text = (REPO / document).read_text()
        for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M):
            found.append(Block(document, match.group(1), match.group(2)))
    return found


def commands(block: str) -> list[str]:
    """The shell commands of a block: lines joined where a backslash or an open quote continues them."""
    result, pending = [], ""
    for line in block.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\"):
            continue
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on
            continue
        if words:
            result.append(pending.strip())
        pending = ""
    assert pending == "", f"an unfinished command: {pending!r}"
    return result


def shell_commands() -> list[tuple[str, str]]:
    return [(b.document, c) for b in blocks() if b.language == "sh" for c in commands(b.text)]


def words(command: str) -> str:
    """The command without its comment, its words separated by single spaces (for matching only)."""
    return " ".join(shlex.split(command, comments=True))


def run_elsewhere(command: str) -> str | None:
    bare = words(command)
    if bare.endswith("--help"):
        return None
    return next((test for prefix, test in ELSEWHERE.items() if bare == prefix or bare.startswith(prefix + " ")), None)


def is_server(command: str) -> bool:
    return re.search(r"(python -m service|wdbc-serve)\b", words(command)) is not None


def localised(text: str, port: int, model_dir: Path) -> str:
    """A command as this test runs it: this server's port and model, this environment's executables."""
    text = re.sub(rf"\b(127\.0\.0\.1|localhost):{DOCUMENTED_PORT}\b", f"127.0.0.1:{port}", text)
    text = re.sub(rf"--port {DOCUMENTED_PORT}\b", f"--port {port}", text)
    text = text.replace("--host 0.0.0.0", "--host 127.0.0.1")  # the tests bind nothing public
    text = text.replace("models/latest", str(model_dir))
    return re.sub(r"(^|\s)\.venv/bin/", rf"\g<1>{BIN}/", text)


@dataclass(frozen=True)
class Server:
    base_url: str
    port: int


def environment() -> dict[str, str]:
    """The test run's environment without the service's settings (a reader's shell has none set)."""
    unset = ("MODEL_DIR", "API_KEY", "ADMIN_API_KEY", "MODEL_SIGNING_KEY", "MAX_BATCH_ROWS", "PROMETHEUS_MULTIPROC_DIR")
    return {k: v for k, v in os.environ.items() if k not in unset} | {"SHUTDOWN_GRACE": "0"}


@contextmanager
def serving(command: str, tmp_path: Path, model_dir: Path) -> Iterator[Server]:
    """Start a documented serving command on a free port; yield once /ready answers 200; always stop it."""
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    argv = shlex.split(localised(command, port, model_dir), comments=True)
    if "--port" not in argv:
        argv += ["--port", str(port)]
    served = environment() | {"MODEL_DIR": str(model_dir)}  # the default, models/latest, as `make run` leaves it
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, cwd=REPO, env=served, stdout=sink, stderr=sink)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"{command!r} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{command!r} was not ready in 120 s:\n{log.read_text()[-3000:]}"
            try:
                if httpx2.get(base_url + "/ready", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        yield Server(base_url, port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What models/latest holds after `make run` trained (without the cross-validation, to be quick)."""
    directory = tmp_path_factory.mktemp("docs") / "model"
    train_model_dir(directory, preset="default", random_state=0, cv_repeats=0)
    return directory


def test_every_shell_command_is_run_here_or_by_a_named_test() -> None:
    runnable = ("curl ", ".venv/bin/")
    unclaimed = [
        (document, command)
        for document, command in shell_commands()
        if run_elsewhere(command) is None and not command.startswith(runnable)
    ]
    assert unclaimed == [], "give each a runner here or an entry in ELSEWHERE"
    for test in ELSEWHERE.values():
        path, _, name = test.partition("::")
        assert (REPO / path).is_file(), test
        assert not name or f"def {name}(" in (REPO / path).read_text(), test
    assert sum(command.startswith("curl ") for _, command in shell_commands()) >= 3


def test_python_and_commands_are_typed_with_the_environment_they_need() -> None:
    """A fresh shell has no activated environment: `python`, `wdbc-serve` or `wdbc-train` alone would fail."""
    bare = [
        (document, command)
        for document, command in shell_commands()
        if re.match(r"(\w+=\S+ )*(python3?|wdbc-serve|wdbc-train|pip)\b", command)
        or re.search(r"\bor:? (python3?|wdbc-serve|wdbc-train) ", command)
    ]
    assert bare == []
    texts = [(REPO / document).read_text() for document in DOCUMENTS]
    named = {name for text in texts for name in re.findall(r"\.venv/bin/([\w-]+)", text)}
    assert {"python", "wdbc-serve", "wdbc-train"} <= named
    assert {name for name in named if not (BIN / name).is_file()} == set(), "installed by make's editable install"


@pytest.mark.slow
def test_the_documented_commands_work_against_a_real_server(tmp_path: Path, model_dir: Path) -> None:
    runnable = [(d, c) for d, c in shell_commands() if run_elsewhere(c) is None]
    servers = [(d, c) for d, c in runnable if is_server(c)]
    others = [(d, c) for d, c in runnable if not is_server(c)]
    assert servers, "the docs show how to start the server"
    for _, command in servers[1:]:  # every serving command starts and becomes ready
        with serving(command, tmp_path, model_dir):
            pass
    with serving(servers[0][1], tmp_path, model_dir) as server:
        for document, command in others:
            completed = subprocess.run(
                ["bash", "-c", localised(command, server.port, model_dir)],
                cwd=REPO,
                env=environment(),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            where = f"{document}: {command[:100]}"
            assert completed.returncode == 0, f"{where}\n{completed.stdout[-1000:]}{completed.stderr[-2000:]}"
            assert "Traceback" not in completed.stderr, where
            if command.startswith("curl "):
                answer = json.loads(completed.stdout)
                assert "error" not in answer, f"{where}\n{completed.stdout[:500]}"
        for document in DOCUMENTS:
            code = "\n\n".join(b.text for b in blocks() if b.document == document and b.language == "python")
            if not code:
                continue
            code = localised(code, server.port, model_dir)
            completed = subprocess.run(
                [sys.executable, "-c", code],
                cwd=REPO,
                env=environment(),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert completed.returncode == 0, f"{document}:\n{completed.stderr[-3000:]}"
            for line in code.splitlines():  # a comment on a print(...) line is what it prints
                if line.startswith("print(") and "#" in line:
                    assert line.rsplit("#", 1)[1].strip() in completed.stdout.splitlines(), completed.stdout


def documented_modules() -> set[str]:
    """Every ``python -m MODULE`` the docs name, in prose or in code (with or without the .venv/bin/ path)."""
    documents = [path for path in REPO.glob("**/*.md") if not {".venv", "vendor"} & set(path.parts)]
    pattern = r"(?:^|[`\s])(?:\.venv/bin/)?python -m ([a-z_][\w.]*)"
    return {module for path in documents for module in re.findall(pattern, path.read_text(), flags=re.M)}


@pytest.mark.parametrize("module", sorted(documented_modules()))
def test_every_documented_module_command_exists_and_explains_itself(module: str) -> None:
    """The commands named in prose with placeholders (``python -m neuralnet.verify DIR``) at least start."""
    completed = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=REPO,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.startswith("usage:"), completed.stdout[:500]
