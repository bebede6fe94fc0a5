"""The model-directory contract: what is written is what is read, and every kind of damage is caught."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuralnet import NetworkEnsembleClassifier, NeuralNetClassifier, artifacts
from neuralnet.artifacts import (
    INFERENCE_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    SCALER_FILE,
    AlteredArtifactError,
    IncompatibleArtifactError,
    MissingArtifactError,
    load_inference_model,
    load_model_dir,
    point_latest_at,
    read_manifest,
    write_model_dir,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

LOADERS: dict[str, Callable[[Path], object]] = {"estimators": load_model_dir, "inference": load_inference_model}
"""Both readers verify the whole directory the same way."""


@pytest.fixture(scope="module")
def fitted() -> tuple[StandardScaler, NetworkEnsembleClassifier, dict[str, Any]]:
    data = load_breast_cancer()
    scaler = StandardScaler().fit(data.data)
    member = NeuralNetClassifier((4,), max_iter=20)
    model = NetworkEnsembleClassifier(member, n_members=2, random_state=0)
    model.fit(scaler.transform(data.data), data.target)
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
def model_dir(tmp_path: Path, fitted: tuple[StandardScaler, NetworkEnsembleClassifier, dict[str, Any]]) -> Path:
    scaler, model, fields = fitted
    destination = tmp_path / "model"
    write_model_dir(destination, scaler=scaler, model=model, manifest_fields=fields, extra_files={"report.md": b"# r"})
    return destination


def _edit_manifest(directory: Path, **changes: Any) -> None:
    path = directory / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def _replace_inference_file(directory: Path, data: bytes) -> None:
    """Write ``data`` as the inference file and record its hash: intact, as far as the hashes tell."""
    (directory / INFERENCE_FILE).write_bytes(data)
    hashes = json.loads((directory / MANIFEST_FILE).read_text())["artifacts"]
    _edit_manifest(directory, artifacts={**hashes, INFERENCE_FILE: hashlib.sha256(data).hexdigest()})


def _npz(arrays: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _inference_arrays(directory: Path) -> dict[str, NDArray[Any]]:
    with np.load(directory / INFERENCE_FILE, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def test_round_trip_gives_the_same_predictions_and_hashes_every_file(model_dir: Path) -> None:
    loaded = load_model_dir(model_dir)
    data = load_breast_cancer()
    original = joblib.load(model_dir / MODEL_FILE)
    expected = original.predict_proba(loaded.scaler.transform(data.data))
    np.testing.assert_array_equal(loaded.model.predict_proba(loaded.scaler.transform(data.data)), expected)
    assert set(loaded.manifest.artifacts) == {SCALER_FILE, MODEL_FILE, INFERENCE_FILE, "report.md"}
    assert loaded.manifest.format_version == artifacts.FORMAT_VERSION
    assert loaded.manifest.positive_class_index == 0
    assert sorted(p.name for p in model_dir.iterdir()) == sorted(
        [MANIFEST_FILE, SCALER_FILE, MODEL_FILE, INFERENCE_FILE, "report.md"]
    )


def test_the_inference_model_equals_the_pipeline_bit_for_bit_without_unpickling(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load_model_dir(model_dir)
    expected = make_pipeline(loaded.scaler, loaded.model).predict_proba(load_breast_cancer().data)

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("unpickled a file")

    monkeypatch.setattr("joblib.load", refuse)
    manifest, model = load_inference_model(model_dir)
    assert manifest == loaded.manifest
    np.testing.assert_array_equal(model.predict_proba(load_breast_cancer().data), expected)
    np.testing.assert_array_equal(model.classes, loaded.model.classes_)


def test_the_inference_loader_imports_neither_scikit_learn_nor_scipy_nor_joblib(model_dir: Path) -> None:
    code = (
        "import sys\n"
        "from neuralnet.artifacts import load_inference_model\n"
        f"load_inference_model({str(model_dir)!r})\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'joblib'})\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("victim", [SCALER_FILE, MODEL_FILE, INFERENCE_FILE, "report.md"])
def test_an_altered_file_is_refused_before_anything_is_read(
    model_dir: Path, victim: str, loader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = model_dir / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("read an unverified file")

    monkeypatch.setattr("joblib.load", refuse)
    monkeypatch.setattr("neuralnet.artifacts.np.load", refuse)
    with pytest.raises(AlteredArtifactError, match=victim):
        LOADERS[loader](model_dir)


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("victim", [SCALER_FILE, MODEL_FILE, INFERENCE_FILE, MANIFEST_FILE])
def test_a_missing_file_is_named(model_dir: Path, victim: str, loader: str) -> None:
    (model_dir / victim).unlink()
    with pytest.raises(MissingArtifactError, match=victim):
        LOADERS[loader](model_dir)


@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_missing_directory_is_named(tmp_path: Path, loader: str) -> None:
    with pytest.raises(MissingArtifactError, match="does not exist"):
        LOADERS[loader](tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": 99}, "format_version 99"),
        ({"surprise": 1}, "surprise"),
        ({"positive_class": "unknown"}, "positive_class"),
        ({"classes": ["malignant", "benign", "other"]}, "the manifest lists 3"),
        ({"artifacts": {MODEL_FILE: "0" * 64, INFERENCE_FILE: "0" * 64}}, "no hash for scaler.joblib"),
        ({"artifacts": {SCALER_FILE: "0" * 64, MODEL_FILE: "0" * 64}}, "no hash for inference.npz"),
        (
            {"artifacts": {"../x": "0" * 64, SCALER_FILE: "0", MODEL_FILE: "0", INFERENCE_FILE: "0"}},
            "outside the directory",
        ),
    ],
)
@pytest.mark.parametrize("loader", list(LOADERS))
def test_an_incompatible_manifest_is_refused_with_its_reason(
    model_dir: Path, changes: dict[str, Any], message: str, loader: str
) -> None:
    _edit_manifest(model_dir, **changes)
    with pytest.raises(IncompatibleArtifactError, match=message):
        LOADERS[loader](model_dir)


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    def drop(arrays: dict[str, Any]) -> None:
        del arrays[name]

    return drop


def _set(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def set_value(arrays: dict[str, Any]) -> None:
        arrays[name] = value

    return set_value


def _fewer_features(arrays: dict[str, Any]) -> None:
    """A consistent network of 29 inputs: it reads back, but does not fit the manifest's 30 features."""
    arrays.update(coef_0=arrays["coef_0"][:29], mean=arrays["mean"][:29], scale=arrays["scale"][:29])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_drop("n_members"), r"missing \['n_members'\]"),
        (_set("extra", np.zeros(1)), r"unknown \['extra'\]"),
        (_set("coef_1", np.zeros((5, 2))), r"coef_1 has shape \(5, 2\); coef_0 gives it 8 inputs"),
        (_set("intercept_0", np.zeros(3)), r"intercept_0 has shape \(3,\); coef_0 has 8 units"),
        (_set("mean", np.zeros(7)), r"mean has shape \(7,\)"),
        (_set("coef_0", np.zeros((30, 8), dtype=np.float32)), "coef_0 must be a 2-D float64 array"),
        (_set("coef_0", np.full((30, 8), np.nan)), "coef_0 holds non-finite values"),
        (_set("activation", np.array("swish")), "activation must be one of"),
        (_set("output_activation", np.array("identity")), "output_activation must be one of"),
        (_set("n_members", np.array(3)), "need 3 sigmoid output units; coef_1 has 2"),
        (_set("classes", np.array([0, 1, 2])), "a sigmoid output unit holds two classes; got 3"),
        (_fewer_features, "expects 29 features; the manifest lists 30"),
    ],
    ids=[
        "missing-key",
        "unknown-key",
        "coef-shape",
        "intercept-shape",
        "mean-shape",
        "float32",
        "nan",
        "activation",
        "output-activation",
        "members",
        "classes",
        "features",
    ],
)
def test_inference_arrays_that_do_not_make_the_model_are_incompatible(
    model_dir: Path, damage: Callable[[dict[str, Any]], None], message: str
) -> None:
    arrays = _inference_arrays(model_dir)
    damage(arrays)
    _replace_inference_file(model_dir, _npz(arrays))
    with pytest.raises(IncompatibleArtifactError, match=message) as caught:
        load_inference_model(model_dir)
    assert INFERENCE_FILE in str(caught.value)


def test_inference_classes_must_match_the_manifest(model_dir: Path) -> None:
    _edit_manifest(model_dir, classes=["malignant", "benign", "other"])
    with pytest.raises(IncompatibleArtifactError, match=r"inference\.npz has 2 classes; the manifest lists 3"):
        load_inference_model(model_dir)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an .npz archive"),
        (b"\x80\x04K\x01.", "not an .npz archive"),  # a pickle
        (b"PK\x03\x04" + b"\x00" * 64, "cannot be read as plain arrays"),  # a broken zip
        (_npz({"classes": np.array([0, 1], dtype=object)}), "cannot be read as plain arrays"),  # needs pickle
    ],
    ids=["empty", "pickle", "broken-zip", "object-array"],
)
def test_an_inference_file_that_is_not_plain_arrays_is_incompatible(model_dir: Path, data: bytes, message: str) -> None:
    _replace_inference_file(model_dir, data)
    with pytest.raises(IncompatibleArtifactError, match=message):
        load_inference_model(model_dir)


def test_a_manifest_that_is_not_json_is_incompatible(model_dir: Path) -> None:
    (model_dir / MANIFEST_FILE).write_bytes(b"\xff{not json")
    with pytest.raises(IncompatibleArtifactError, match="not valid JSON"):
        read_manifest(model_dir)


def test_feature_count_must_match_the_fitted_objects(
    tmp_path: Path, fitted: tuple[StandardScaler, NetworkEnsembleClassifier, dict[str, Any]]
) -> None:
    scaler, model, fields = fitted
    with pytest.raises(IncompatibleArtifactError, match="expects 30 features; the manifest lists 29"):
        write_model_dir(
            tmp_path / "m", scaler=scaler, model=model, manifest_fields={**fields, "features": fields["features"][:29]}
        )
    assert not (tmp_path / "m").exists()
    assert list(tmp_path.iterdir()) == [], "a failed write leaves no staging directory behind"


def test_a_model_the_service_cannot_serve_is_not_written(
    tmp_path: Path, fitted: tuple[StandardScaler, NetworkEnsembleClassifier, dict[str, Any]]
) -> None:
    scaler, _, fields = fitted
    data = load_breast_cancer()
    other = LogisticRegression(max_iter=1000).fit(scaler.transform(data.data), data.target)
    with pytest.raises(IncompatibleArtifactError, match="cannot be served: model must be a NeuralNetClassifier"):
        write_model_dir(tmp_path / "m", scaler=scaler, model=other, manifest_fields=fields)
    assert list(tmp_path.iterdir()) == []


def test_writing_replaces_a_model_directory_but_not_other_data(
    model_dir: Path, fitted: tuple[StandardScaler, NetworkEnsembleClassifier, dict[str, Any]]
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


@pytest.mark.parametrize("name", [MANIFEST_FILE, MODEL_FILE, INFERENCE_FILE, "../escape.md"])
def test_extra_files_cannot_take_reserved_or_outside_names(
    tmp_path: Path, fitted: tuple[StandardScaler, NetworkEnsembleClassifier, dict[str, Any]], name: str
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


def test_the_verify_command_accepts_a_servable_directory_and_names_what_is_wrong_with_others(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from neuralnet.verify import main

    assert main([str(model_dir)]) == 0
    assert "verified" in capsys.readouterr().out
    (model_dir / artifacts.INFERENCE_FILE).write_bytes(b"tampered")
    assert main([str(model_dir)]) == 1
    assert "altered" in capsys.readouterr().err
    assert main([]) == 2
