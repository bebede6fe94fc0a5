"""The model-directory contract: what is written is what is read, and every kind of damage is caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from neuralnet import artifacts
from neuralnet.artifacts import (
    MANIFEST_FILE,
    MODEL_FILE,
    SCALER_FILE,
    AlteredArtifactError,
    IncompatibleArtifactError,
    MissingArtifactError,
    load_model_dir,
    point_latest_at,
    read_manifest,
    write_model_dir,
)


@pytest.fixture(scope="module")
def fitted() -> tuple[StandardScaler, LogisticRegression, dict[str, Any]]:
    data = load_breast_cancer()
    scaler = StandardScaler().fit(data.data)
    model = LogisticRegression(max_iter=1000).fit(scaler.transform(data.data), data.target)
    features = [
        {
            "name": str(name),
            "api_name": str(name).replace(" ", "_"),
            "training_min": float(low),
            "training_max": float(high),
            "valid_min": 0.0,
            "valid_max": float(high) * 3,
        }
        for name, low, high in zip(data.feature_names, data.data.min(axis=0), data.data.max(axis=0), strict=True)
    ]
    fields = {
        "model_version": "test-1",
        "created_at": "2026-11-22T00:00:00Z",
        "preset": "test",
        "features": features,
        "classes": ["malignant", "benign"],
        "positive_class": "malignant",
        "decision_threshold": 0.5,
        "hyperparameters": {},
        "metrics": {},
        "library_versions": {},
        "training_data": {"sha256": "0" * 64, "n_rows": 569, "n_features": 30},
    }
    return scaler, model, fields


@pytest.fixture
def model_dir(tmp_path: Path, fitted: tuple[StandardScaler, LogisticRegression, dict[str, Any]]) -> Path:
    scaler, model, fields = fitted
    destination = tmp_path / "model"
    write_model_dir(destination, scaler=scaler, model=model, manifest_fields=fields, extra_files={"report.md": b"# r"})
    return destination


def _edit_manifest(directory: Path, **changes: Any) -> None:
    path = directory / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def test_round_trip_gives_the_same_predictions_and_hashes_every_file(model_dir: Path) -> None:
    loaded = load_model_dir(model_dir)
    data = load_breast_cancer()
    original = joblib.load(model_dir / MODEL_FILE)
    expected = original.predict_proba(loaded.scaler.transform(data.data))
    np.testing.assert_array_equal(loaded.model.predict_proba(loaded.scaler.transform(data.data)), expected)
    assert set(loaded.manifest.artifacts) == {SCALER_FILE, MODEL_FILE, "report.md"}
    assert loaded.manifest.format_version == artifacts.FORMAT_VERSION
    assert loaded.manifest.positive_class_index == 0
    assert sorted(p.name for p in model_dir.iterdir()) == sorted([MANIFEST_FILE, SCALER_FILE, MODEL_FILE, "report.md"])


@pytest.mark.parametrize("victim", [SCALER_FILE, MODEL_FILE, "report.md"])
def test_an_altered_file_is_refused_before_anything_is_unpickled(
    model_dir: Path, victim: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = model_dir / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("unpickled an unverified file")

    monkeypatch.setattr("neuralnet.artifacts.joblib.load", refuse)
    with pytest.raises(AlteredArtifactError, match=victim):
        load_model_dir(model_dir)


@pytest.mark.parametrize("victim", [SCALER_FILE, MODEL_FILE, MANIFEST_FILE])
def test_a_missing_file_is_named(model_dir: Path, victim: str) -> None:
    (model_dir / victim).unlink()
    with pytest.raises(MissingArtifactError, match=victim):
        load_model_dir(model_dir)


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(MissingArtifactError, match="does not exist"):
        load_model_dir(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": 99}, "format_version 99"),
        ({"surprise": 1}, "surprise"),
        ({"positive_class": "unknown"}, "positive_class"),
        ({"classes": ["malignant", "benign", "other"]}, "the manifest lists 3"),
        ({"artifacts": {MODEL_FILE: "0" * 64}}, "no hash for scaler.joblib"),
        ({"artifacts": {"../x": "0" * 64, SCALER_FILE: "0", MODEL_FILE: "0"}}, "outside the directory"),
    ],
)
def test_an_incompatible_manifest_is_refused_with_its_reason(
    model_dir: Path, changes: dict[str, Any], message: str
) -> None:
    _edit_manifest(model_dir, **changes)
    with pytest.raises(IncompatibleArtifactError, match=message):
        load_model_dir(model_dir)


def test_a_manifest_that_is_not_json_is_incompatible(model_dir: Path) -> None:
    (model_dir / MANIFEST_FILE).write_bytes(b"\xff{not json")
    with pytest.raises(IncompatibleArtifactError, match="not valid JSON"):
        read_manifest(model_dir)


def test_feature_count_must_match_the_fitted_objects(
    tmp_path: Path, fitted: tuple[StandardScaler, LogisticRegression, dict[str, Any]]
) -> None:
    scaler, model, fields = fitted
    with pytest.raises(IncompatibleArtifactError, match="expects 30 features; the manifest lists 29"):
        write_model_dir(
            tmp_path / "m", scaler=scaler, model=model, manifest_fields={**fields, "features": fields["features"][:29]}
        )
    assert not (tmp_path / "m").exists()
    assert list(tmp_path.iterdir()) == [], "a failed write leaves no staging directory behind"


def test_writing_replaces_a_model_directory_but_not_other_data(
    model_dir: Path, fitted: tuple[StandardScaler, LogisticRegression, dict[str, Any]]
) -> None:
    scaler, model, fields = fitted
    write_model_dir(model_dir, scaler=scaler, model=model, manifest_fields={**fields, "model_version": "test-2"})
    assert load_model_dir(model_dir).manifest.model_version == "test-2"
    assert not (model_dir / "report.md").exists()

    precious = model_dir.parent / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="refusing"):
        write_model_dir(precious, scaler=scaler, model=model, manifest_fields=fields)
    assert (precious / "thesis.txt").read_text() == "keep me"


@pytest.mark.parametrize("name", [MANIFEST_FILE, MODEL_FILE, "../escape.md"])
def test_extra_files_cannot_take_reserved_or_outside_names(
    tmp_path: Path, fitted: tuple[StandardScaler, LogisticRegression, dict[str, Any]], name: str
) -> None:
    scaler, model, fields = fitted
    with pytest.raises(ValueError, match="reserved or not a plain file name"):
        write_model_dir(tmp_path / "m", scaler=scaler, model=model, manifest_fields=fields, extra_files={name: b""})


def test_latest_points_at_the_newest_directory(tmp_path: Path) -> None:
    for version in ("v1", "v2"):
        (tmp_path / version).mkdir()
        link = point_latest_at(tmp_path, tmp_path / version)
    assert link.resolve() == (tmp_path / "v2").resolve()
    assert link.readlink() == Path("v2"), "the link is relative so the tree can move (volumes, containers)"
