"""The model-directory contract: what is written is what is read, and every kind of damage is caught."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuralnet import NetworkEnsembleClassifier, NeuralNetClassifier, artifacts
from neuralnet.artifacts import (
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


def replace_artifact(directory: Path, name: str, data: bytes) -> None:
    """Write ``data`` as ``name`` and record its hash: intact, as far as the hashes tell (a forger's move)."""
    (directory / name).write_bytes(data)
    hashes = json.loads((directory / MANIFEST_FILE).read_text())["artifacts"]
    _edit_manifest(directory, artifacts={**hashes, name: hashlib.sha256(data).hexdigest()})


def _dumped(obj: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


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


def test_the_inference_model_equals_the_pipeline_bit_for_bit_without_joblib_or_the_classes(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = load_breast_cancer().data
    expected = make_pipeline(joblib.load(model_dir / SCALER_FILE), joblib.load(model_dir / MODEL_FILE)).predict_proba(
        data
    )

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("unpickled with joblib")

    monkeypatch.setattr("joblib.load", refuse)
    manifest, model = load_inference_model(model_dir)
    assert manifest == read_manifest(model_dir)
    np.testing.assert_array_equal(model.predict_proba(data), expected)
    np.testing.assert_array_equal(model.classes, [0, 1])
    loaded = load_model_dir(model_dir)  # the offline reader goes through the same allow-list, to the real classes
    np.testing.assert_array_equal(make_pipeline(loaded.scaler, loaded.model).predict_proba(data), expected)


def test_replacing_the_networks_weights_changes_what_is_served(model_dir: Path) -> None:
    data = load_breast_cancer().data
    before = load_inference_model(model_dir)[1].predict_proba(data)
    altered = joblib.load(model_dir / MODEL_FILE)
    for member in altered.estimators_:
        member.coefs_[-1] = -member.coefs_[-1]  # the output layer negated: every probability p becomes 1 - p
        member.intercepts_[-1] = -member.intercepts_[-1]
    replace_artifact(model_dir, MODEL_FILE, _dumped(altered))
    after = load_inference_model(model_dir)[1].predict_proba(data)
    np.testing.assert_allclose(after, before[:, ::-1], atol=1e-12)
    scaled = joblib.load(model_dir / SCALER_FILE).transform(data)
    np.testing.assert_array_equal(after, altered.predict_proba(scaled))


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
@pytest.mark.parametrize("victim", [SCALER_FILE, MODEL_FILE])
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
    monkeypatch.setattr("neuralnet.artifacts.load_allowed", refuse)
    monkeypatch.setattr("neuralnet.pickled_model.load_allowed", refuse)
    with pytest.raises(AlteredArtifactError, match=victim):
        LOADERS[loader](model_dir)


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("change", ["edited", "deleted"])
def test_a_changed_report_file_is_reported_not_refused(
    model_dir: Path, change: str, loader: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Report files are for people: the model loads, and the change is named (the service logs it)."""
    from neuralnet.verify import main

    report = model_dir / "report.md"
    if change == "edited":
        report.write_text("# r, with a reviewer's note")
    else:
        report.unlink()
    LOADERS[loader](model_dir)
    (problem,) = artifacts.report_file_problems(model_dir, read_manifest(model_dir))
    assert problem.startswith("report file report.md ")
    assert main([str(model_dir)]) == 0
    assert capsys.readouterr().err == f"warning: {problem}\n"


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("victim", [SCALER_FILE, MODEL_FILE, MANIFEST_FILE])
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
        ({"artifacts": {MODEL_FILE: "0" * 64}}, "no hash for scaler.joblib"),
        ({"artifacts": {SCALER_FILE: "0" * 64}}, "no hash for model.joblib"),
        (
            {"artifacts": {"../x": "0" * 64, SCALER_FILE: "0", MODEL_FILE: "0"}},
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


class _Payload:
    """Unpickling this runs ``os.system``: what a forged model file would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def _forgeries(marker: Path) -> dict[str, Callable[[Any], object]]:
    """Ways to hide the payload in a model pickle, each given the real fitted model."""

    def as_attribute(model: Any) -> object:
        model.estimators_[0].note_ = _Payload(marker)
        return model

    def in_object_array(model: Any) -> object:
        model.classes_ = np.array([_Payload(marker), 1], dtype=object)  # joblib pickles it inside the array's bytes
        return model

    return {
        "whole-file": lambda _: _Payload(marker),
        "attribute": as_attribute,
        "object-array": in_object_array,
        "foreign-class": lambda _: LogisticRegression(),  # allowed by nothing, though harmless
    }


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("forgery", list(_forgeries(Path())))
def test_a_forged_pickle_with_a_rehashed_manifest_is_refused_before_it_runs(
    model_dir: Path, tmp_path: Path, loader: str, forgery: str
) -> None:
    marker = tmp_path / "payload-ran"
    model = _forgeries(marker)[forgery](joblib.load(model_dir / MODEL_FILE))
    replace_artifact(model_dir, MODEL_FILE, _dumped(model))
    with pytest.raises(artifacts.ForbiddenArtifactError, match=r"model\.joblib") as caught:
        LOADERS[loader](model_dir)
    assert not marker.exists(), "the payload ran"
    assert "nothing in it was run" in str(caught.value) or "only plain dtypes" in str(caught.value)
    joblib.load(model_dir / MODEL_FILE)  # the plain unpickler would have run it: the forgery is real
    assert marker.exists() or forgery == "foreign-class"


def _state_damages() -> dict[str, tuple[Callable[[Any, Any], None], str]]:
    """(damage of (scaler, model), message): pickles of allowed classes whose state does not make a model."""

    def drop_scale(scaler: Any, _: Any) -> None:
        del scaler.scale_

    def float32(_: Any, model: Any) -> None:
        for member in model.estimators_:
            member.coefs_[0] = member.coefs_[0].astype(np.float32)

    def nan(_: Any, model: Any) -> None:
        for member in model.estimators_:
            member.coefs_[0][0, 0] = np.nan

    def activation(_: Any, model: Any) -> None:
        for member in model.estimators_:
            member.activation = "swish"

    def mixed(_: Any, model: Any) -> None:
        model.estimators_[0].activation = "tanh" if model.estimators_[1].activation != "tanh" else "relu"

    def fewer_features(scaler: Any, model: Any) -> None:
        scaler.mean_, scaler.scale_ = scaler.mean_[:29], scaler.scale_[:29]
        for member in model.estimators_:
            member.coefs_[0] = member.coefs_[0][:29]

    def no_members(_: Any, model: Any) -> None:
        model.estimators_ = []

    return {
        "no-scale": (drop_scale, "StandardScaler has no attribute 'scale_'"),
        "float32": (float32, "coef_0 must be a 2-D float64 array"),
        "nan": (nan, "coef_0 holds non-finite values"),
        "activation": (activation, "activation must be one of"),
        "mixed-activations": (mixed, "do not share their activations"),
        "features": (fewer_features, "expects 29 features; the manifest lists 30"),
        "no-members": (no_members, "no fitted members"),
    }


@pytest.mark.parametrize("damage", list(_state_damages()))
def test_allowed_pickles_whose_state_does_not_make_the_model_are_incompatible(model_dir: Path, damage: str) -> None:
    change, message = _state_damages()[damage]
    scaler, model = joblib.load(model_dir / SCALER_FILE), joblib.load(model_dir / MODEL_FILE)
    change(scaler, model)
    replace_artifact(model_dir, SCALER_FILE, _dumped(scaler))
    replace_artifact(model_dir, MODEL_FILE, _dumped(model))
    with pytest.raises(IncompatibleArtifactError, match=message) as caught:
        load_inference_model(model_dir)
    assert str(model_dir) in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an uncompressed joblib pickle"),
        (b"\x1f\x8b\x08" + b"\x00" * 32, "not an uncompressed joblib pickle"),  # gzip, as joblib compresses
        (b"\x80\x04K\x01.", "holds a int"),  # a pickle of something else
    ],
    ids=["empty", "compressed", "not-a-model"],
)
def test_a_model_file_that_is_not_an_allowed_pickle_is_refused(model_dir: Path, data: bytes, message: str) -> None:
    replace_artifact(model_dir, MODEL_FILE, data)
    with pytest.raises(artifacts.ArtifactError, match=message):
        load_inference_model(model_dir)


def test_a_truncated_model_file_is_incompatible(model_dir: Path) -> None:
    data = (model_dir / MODEL_FILE).read_bytes()
    replace_artifact(model_dir, MODEL_FILE, data[: len(data) // 2])
    with pytest.raises(artifacts.ArtifactError, match="model"):
        load_inference_model(model_dir)


def test_a_version_2_directory_still_reads_and_its_inference_file_is_verified_too(model_dir: Path) -> None:
    replace_artifact(model_dir, "inference.npz", b"PK\x03\x04 the arrays version 2 served")
    _edit_manifest(model_dir, format_version=2)
    assert load_inference_model(model_dir)[0].format_version == 2
    (model_dir / "inference.npz").write_bytes(b"altered")
    with pytest.raises(AlteredArtifactError, match=r"inference\.npz"):
        load_inference_model(model_dir)


def test_library_version_differences_are_reported_not_refused(model_dir: Path) -> None:
    manifest = read_manifest(model_dir)
    assert artifacts.library_mismatches(manifest) == ()  # the fixture records none
    trained = {"numpy": "1.26.4", "scikit-learn": "0.1.0", "joblib": joblib.__version__, "python": "2.7"}
    _edit_manifest(model_dir, library_versions=trained)
    lines = artifacts.library_mismatches(read_manifest(model_dir))
    assert lines == (
        f"numpy 1.26.4 trained the model; {np.__version__} reads it",
        f"scikit-learn 0.1.0 trained the model; {sklearn.__version__} reads it",
    )
    assert load_inference_model(model_dir)[1] is not None


def test_model_classes_must_match_the_manifest(model_dir: Path) -> None:
    _edit_manifest(model_dir, classes=["malignant", "benign", "other"])
    with pytest.raises(IncompatibleArtifactError, match=r"model\.joblib has 2 classes; the manifest lists 3"):
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


@pytest.mark.parametrize("name", [MANIFEST_FILE, MODEL_FILE, "../escape.md"])
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
    (model_dir / MODEL_FILE).write_bytes(b"tampered")
    assert main([str(model_dir)]) == 1
    assert "altered" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "code"), [(["--help"], 0), ([], 2), (["a", "b"], 2)])
def test_the_verify_command_line_is_parsed_like_any_other(
    argv: list[str], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    from neuralnet.verify import main

    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == code
    output = capsys.readouterr()
    assert "usage: python -m neuralnet.verify [-h] MODEL_DIR" in output.out + output.err
    assert "does not exist" not in output.out + output.err
