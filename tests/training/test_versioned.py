"""Without --output-dir: a new versioned directory under --models-root, and ``latest`` follows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuralnet.artifacts import load_model_dir, read_manifest
from training import cli


def test_versioned_directories_and_latest_moves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "models"
    assert cli.main(["--cv-repeats", "0", "--models-root", str(root), "-q"]) == 0
    first = sorted(p for p in root.iterdir() if p.name != "latest")
    assert len(first) == 1
    latest = root / "latest"
    assert latest.is_symlink()
    assert latest.resolve() == first[0].resolve()
    assert read_manifest(first[0]).model_version == first[0].name

    assert cli.main(["--cv-repeats", "0", "--models-root", str(root), "-q", "--seed", "1"]) == 0
    second = sorted(p for p in root.iterdir() if p.name != "latest")
    assert len(second) == 2
    newest = next(p for p in second if p != first[0])
    assert newest.name > first[0].name  # names sort by time, suffix included
    assert latest.resolve() == newest.resolve()
    assert load_model_dir(latest).manifest.model_version == newest.name
    assert load_model_dir(first[0]).manifest.training_data["split_seed"] == 0
    assert capsys.readouterr().err == ""  # -q: no progress lines
