"""The signed manifest: with a key, only the manifest training wrote (and so the files it hashes) is accepted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from neuralnet import NetworkEnsembleClassifier, NeuralNetClassifier
from neuralnet.artifacts import (
    MANIFEST_FILE,
    SIGNATURE_FILE,
    SignatureError,
    SigningKeys,
    key_id,
    load_inference_model,
    load_model_dir,
    sign_model_dir,
    signature_status,
    write_model_dir,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fitted() -> tuple[StandardScaler, NetworkEnsembleClassifier, dict[str, Any]]:
    data = load_breast_cancer()
    scaler = StandardScaler().fit(data.data)
    model = NetworkEnsembleClassifier(NeuralNetClassifier((4,), max_iter=5), n_members=2, random_state=0)
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
        "model_version": "signed-1",
        "created_at": "2026-12-02T00:00:00Z",
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


def _write(destination: Path, fitted: tuple[Any, Any, dict[str, Any]], key: bytes | None) -> Path:
    scaler, model, fields = fitted
    write_model_dir(destination, scaler=scaler, model=model, manifest_fields=fields, signing_key=key)
    return destination


@pytest.fixture
def signed(tmp_path: Path, fitted: tuple[Any, Any, dict[str, Any]]) -> Path:
    return _write(tmp_path / "signed", fitted, KEY)


@pytest.fixture
def unsigned(tmp_path: Path, fitted: tuple[Any, Any, dict[str, Any]]) -> Path:
    return _write(tmp_path / "unsigned", fitted, None)


def _raise_threshold(directory: Path) -> None:
    """The tampering that hashes cannot see: the manifest itself says something else, byte-for-byte valid JSON."""
    path = directory / MANIFEST_FILE
    path.write_text(path.read_text().replace('"decision_threshold": 0.5', '"decision_threshold": 0.9999'))
    assert '"decision_threshold": 0.9999' in path.read_text()


@pytest.mark.parametrize("loader", [load_inference_model, load_model_dir])
def test_a_signed_directory_loads_with_its_key(signed: Path, loader: Any) -> None:
    loader(signed, SigningKeys(KEY))
    record = json.loads((signed / SIGNATURE_FILE).read_text())
    assert record["algorithm"] == "HMAC-SHA256"
    assert record["key_id"] == key_id(KEY)
    assert KEY.decode() not in (signed / SIGNATURE_FILE).read_text()


@pytest.mark.parametrize("loader", [load_inference_model, load_model_dir])
def test_an_altered_manifest_is_refused_with_a_key(signed: Path, loader: Any) -> None:
    _raise_threshold(signed)
    load_inference_model(signed)  # without a key nothing can tell: the hashes of the other files still match
    with pytest.raises(SignatureError, match="altered after signing, or signed with another key"):
        loader(signed, SigningKeys(KEY))


def test_an_unsigned_directory_is_refused_with_a_key(unsigned: Path) -> None:
    load_inference_model(unsigned)
    with pytest.raises(SignatureError, match="unsigned"):
        load_inference_model(unsigned, SigningKeys(KEY))


def test_another_key_is_refused_and_both_key_ids_are_named(signed: Path) -> None:
    with pytest.raises(SignatureError) as caught:
        load_inference_model(signed, SigningKeys(OTHER_KEY))
    assert key_id(KEY) in str(caught.value)
    assert key_id(OTHER_KEY) in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"{}", b"not json", b'{"algorithm": "HMAC-SHA256", "signature": 1}'])
def test_a_broken_signature_file_is_refused(signed: Path, content: bytes) -> None:
    (signed / SIGNATURE_FILE).write_bytes(content)
    with pytest.raises(SignatureError):
        load_inference_model(signed, SigningKeys(KEY))


def test_a_rotation_accepts_the_previous_key_and_re_signs_with_the_new_one(signed: Path) -> None:
    rotating = SigningKeys(current=OTHER_KEY, previous=KEY)
    load_inference_model(signed, rotating)
    assert sign_model_dir(signed, OTHER_KEY, accepted=rotating.accepted) == key_id(OTHER_KEY)
    load_inference_model(signed, SigningKeys(OTHER_KEY))
    with pytest.raises(SignatureError):
        load_inference_model(signed, SigningKeys(KEY))


def test_re_signing_refuses_a_directory_whose_signature_it_does_not_accept(signed: Path) -> None:
    _raise_threshold(signed)
    with pytest.raises(SignatureError):
        sign_model_dir(signed, OTHER_KEY, accepted=(KEY,))


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MODEL_SIGNING_KEY": "short"}, "MODEL_SIGNING_KEY must be at least 32 characters"),
        ({"MODEL_SIGNING_KEY_PREVIOUS": "p" * 32}, "MODEL_SIGNING_KEY_PREVIOUS is set without MODEL_SIGNING_KEY"),
    ],
)
def test_unsafe_keys_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SigningKeys.from_environment(environ)


def test_empty_keys_count_as_unset(unsigned: Path) -> None:
    keys = SigningKeys.from_environment({"MODEL_SIGNING_KEY": " ", "MODEL_SIGNING_KEY_PREVIOUS": ""})
    assert keys.accepted == ()
    assert signature_status(unsigned, keys) == "unsigned"


def test_the_status_says_what_was_checked(signed: Path, unsigned: Path) -> None:
    assert signature_status(signed, SigningKeys(KEY)) == "verified"
    assert signature_status(signed, SigningKeys()) == "not_verified"
    assert signature_status(unsigned, SigningKeys()) == "unsigned"


def _run(
    module: str, *args: str, key: str | None = None, previous: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_SIGNING_KEY")}
    environment |= {"MODEL_SIGNING_KEY": key} if key else {}
    environment |= {"MODEL_SIGNING_KEY_PREVIOUS": previous} if previous else {}
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, env=environment, cwd=REPO, check=False
    )


def test_the_verify_command_checks_the_signature_when_it_has_a_key(signed: Path) -> None:
    assert "signature included" in _run("neuralnet.verify", str(signed), key=KEY.decode()).stdout
    assert "signature not checked (not_verified" in _run("neuralnet.verify", str(signed)).stdout
    _raise_threshold(signed)
    refused = _run("neuralnet.verify", str(signed), key=KEY.decode())
    assert refused.returncode == 1
    assert "does not match its signature" in refused.stderr
    assert _run("neuralnet.verify", str(signed)).returncode == 0, "without a key only the hashes are checked"


def test_the_sign_command_signs_an_unsigned_directory_and_rotates_keys(unsigned: Path) -> None:
    assert _run("neuralnet.sign", str(unsigned)).returncode == 2  # no key: nothing to sign with
    signed = _run("neuralnet.sign", str(unsigned), key=KEY.decode())
    assert signed.returncode == 0, signed.stderr
    load_inference_model(unsigned, SigningKeys(KEY))
    rotated = _run("neuralnet.sign", str(unsigned), key=OTHER_KEY.decode(), previous=KEY.decode())
    assert rotated.returncode == 0, rotated.stderr
    load_inference_model(unsigned, SigningKeys(OTHER_KEY))
    stranger = _run("neuralnet.sign", str(unsigned), key=KEY.decode())  # signed by a key it does not accept
    assert stranger.returncode == 1
    assert "not signed" in stranger.stderr
