"""The model directory: the one contract between the trainer that writes it and the service that reads it.

A model directory holds the fitted scaler and network as joblib pickles, the same model as the plain
arrays of :class:`~neuralnet.inference.ProbabilityModel` (``inference.npz``), any report files, and
``manifest.json``, which records what they are and the SHA-256 of every other file. Readers verify each
hash *before* anything is parsed and use the very bytes they verified: :func:`load_model_dir` unpickles
the estimators (unpickling runs code; for offline use), :func:`load_inference_model` reads only the arrays,
without unpickling and without importing scikit-learn (for the service). Writers build the directory
beside its destination and rename it into place, so a reader never sees a half-written model.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from neuralnet.inference import ProbabilityModel

FORMAT_VERSION: Final = 2
"""Version 2 added ``inference.npz``; a reader refuses any other version with a message that says so."""
MANIFEST_FILE: Final = "manifest.json"
SCALER_FILE: Final = "scaler.joblib"
MODEL_FILE: Final = "model.joblib"
INFERENCE_FILE: Final = "inference.npz"
"""The model as ``ProbabilityModel.to_arrays()`` saved by ``np.savez``: what the service loads."""
REQUIRED_FILES: Final = (SCALER_FILE, MODEL_FILE, INFERENCE_FILE)
LATEST_LINK: Final = "latest"
"""Name of the symlink, inside a models root, that points at the newest model directory."""

_API_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ArtifactError(Exception):
    """Base class: the model directory cannot be used. The message says why, in one line."""


class MissingArtifactError(ArtifactError):
    """A file the contract requires is absent."""


class AlteredArtifactError(ArtifactError):
    """A file's bytes differ from the hash the manifest recorded."""


class IncompatibleArtifactError(ArtifactError):
    """The files are intact but do not fit this code: wrong format version, inconsistent shapes or names."""


class Feature(BaseModel):
    """One input feature: its data-set name, the name the API uses, and the range it accepts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Name in scikit-learn's load_breast_cancer, e.g. 'mean radius'.")
    api_name: str = Field(description="snake_case name used by the HTTP API, e.g. 'mean_radius'.")
    training_min: float
    training_max: float
    valid_min: float = Field(description="Smallest value the service accepts.")
    valid_max: float = Field(description="Largest value the service accepts (training maximum plus headroom).")


class Manifest(BaseModel):
    """What ``manifest.json`` holds. Unknown keys are rejected so that a typo cannot pass silently."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    format_version: int
    model_version: str
    created_at: str = Field(description="ISO 8601 UTC time of training.")
    preset: str
    features: tuple[Feature, ...] = Field(description="In the data set's column order, which the model expects.")
    classes: tuple[str, ...] = Field(description="Class names, in the column order of predict_proba.")
    positive_class: str = Field(description="The class whose probability the threshold applies to.")
    decision_threshold: float = Field(gt=0.0, lt=1.0)
    hyperparameters: dict[str, Any]
    metrics: dict[str, Any]
    library_versions: dict[str, str]
    training_data: dict[str, Any] = Field(description="Fingerprint of the training data: sha256, rows, columns.")
    artifacts: dict[str, str] = Field(description="SHA-256 of every other file in the directory.")

    @model_validator(mode="after")
    def _check_consistency(self) -> Manifest:
        api_names = [feature.api_name for feature in self.features]
        if len(set(api_names)) != len(api_names) or len({f.name for f in self.features}) != len(api_names):
            raise ValueError("feature names are not unique")
        for name in api_names:
            if not _API_NAME.match(name):
                raise ValueError(f"feature api_name {name!r} is not snake_case")
        if self.positive_class not in self.classes:
            raise ValueError(f"positive_class {self.positive_class!r} is not one of {list(self.classes)}")
        for feature in self.features:
            if not feature.valid_min <= feature.training_min <= feature.training_max <= feature.valid_max:
                raise ValueError(f"feature {feature.api_name!r}: valid range does not cover the training range")
        return self

    @property
    def positive_class_index(self) -> int:
        return self.classes.index(self.positive_class)


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A verified model directory: its manifest and the unpickled, fitted scaler and classifier."""

    directory: Path
    manifest: Manifest
    scaler: Any
    model: Any


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_model_dir(
    destination: Path,
    *,
    scaler: Any,
    model: Any,
    manifest_fields: Mapping[str, Any],
    extra_files: Mapping[str, bytes] | None = None,
) -> Manifest:
    """Write a complete model directory at ``destination`` and return its manifest.

    ``manifest_fields`` holds every manifest field except ``format_version`` and ``artifacts``, which are
    filled in here. :data:`INFERENCE_FILE` is derived from ``scaler`` and ``model``, which must therefore be
    a fitted ``StandardScaler`` and a network classifier or ensemble (``ProbabilityModel.from_fitted``).
    ``extra_files`` (report, plots) are hashed like the pickles. An existing model directory at
    ``destination`` is replaced; any other non-empty directory there is refused.
    """
    destination = Path(destination)
    if destination.exists() and any(destination.iterdir()) and not (destination / MANIFEST_FILE).exists():
        raise FileExistsError(
            f"{destination} exists, is not empty and is not a model directory; refusing to replace it"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        files: dict[str, bytes] = {
            SCALER_FILE: _pickle(scaler),
            MODEL_FILE: _pickle(model),
            INFERENCE_FILE: _inference_arrays(scaler, model),
        }
        for name, data in (extra_files or {}).items():
            if name in files or name == MANIFEST_FILE or Path(name).name != name:
                raise ValueError(f"extra file name {name!r} is reserved or not a plain file name")
            files[name] = data
        for name, data in files.items():
            (staging / name).write_bytes(data)
        manifest = Manifest.model_validate(
            {
                **manifest_fields,
                "format_version": FORMAT_VERSION,
                "artifacts": {name: sha256_bytes(data) for name, data in sorted(files.items())},
            }
        )
        _check_fits(manifest, scaler, model)
        _read_inference_model(files[INFERENCE_FILE], manifest, destination / INFERENCE_FILE)  # it must read back
        (staging / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
        staging.chmod(0o755)
        if destination.exists():
            shutil.rmtree(destination)
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def point_latest_at(models_root: Path, model_dir: Path) -> Path:
    """Atomically make ``models_root/latest`` a relative symlink to ``model_dir`` (a child of the root)."""
    link = Path(models_root) / LATEST_LINK
    temporary = link.with_name(f".{LATEST_LINK}.{os.getpid()}")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(Path(model_dir).name, target_is_directory=True)
    temporary.replace(link)
    return link


def read_manifest(directory: Path) -> Manifest:
    """Parse and validate ``manifest.json`` alone, without touching the pickles."""
    path = Path(directory) / MANIFEST_FILE
    if not Path(directory).is_dir():
        raise MissingArtifactError(f"model directory {directory} does not exist")
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise MissingArtifactError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise IncompatibleArtifactError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise IncompatibleArtifactError(f"{path} does not hold a JSON object")
    if raw.get("format_version") != FORMAT_VERSION:
        raise IncompatibleArtifactError(
            f"{path} has format_version {raw.get('format_version')!r}; this code reads version {FORMAT_VERSION}"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "manifest"
        raise IncompatibleArtifactError(f"{path}: {where}: {first['msg']}") from None


def load_model_dir(directory: Path) -> LoadedModel:
    """Verify every file against the manifest, then unpickle the scaler and model from the verified bytes.

    For offline use (evaluation, notebooks): it imports scikit-learn. The service uses :func:`load_inference_model`.
    """
    import joblib  # noqa: PLC0415  (here, not at the top: the service never unpickles; joblib would cost it 12 MB)

    directory = Path(directory)
    manifest, verified = _read_verified(directory)
    try:
        scaler = joblib.load(io.BytesIO(verified[SCALER_FILE]))
        model = joblib.load(io.BytesIO(verified[MODEL_FILE]))
    except Exception as error:  # a verified pickle that still fails: written by incompatible code
        raise IncompatibleArtifactError(f"cannot unpickle the artifacts in {directory}: {error!r}") from None
    _check_fits(manifest, scaler, model)
    return LoadedModel(directory=directory, manifest=manifest, scaler=scaler, model=model)


def load_inference_model(directory: Path) -> tuple[Manifest, ProbabilityModel]:
    """Verify every file against the manifest, then build the serving model from the verified arrays alone.

    Nothing is unpickled and scikit-learn is not imported: the arrays are read with ``allow_pickle=False``.
    """
    directory = Path(directory)
    manifest, verified = _read_verified(directory)
    return manifest, _read_inference_model(verified[INFERENCE_FILE], manifest, directory / INFERENCE_FILE)


def _read_verified(directory: Path) -> tuple[Manifest, dict[str, bytes]]:
    """The manifest and the bytes of every file it lists, each checked against its recorded SHA-256."""
    manifest = read_manifest(directory)
    for required in REQUIRED_FILES:
        if required not in manifest.artifacts:
            raise IncompatibleArtifactError(f"{directory / MANIFEST_FILE} records no hash for {required}")
    verified: dict[str, bytes] = {}
    for name, expected in manifest.artifacts.items():
        path = directory / name
        if Path(name).name != name:
            raise IncompatibleArtifactError(f"{directory / MANIFEST_FILE} names a file outside the directory: {name!r}")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise MissingArtifactError(f"{path} is missing") from None
        if sha256_bytes(data) != expected:
            raise AlteredArtifactError(f"{path} does not match the SHA-256 recorded in the manifest; it was altered")
        verified[name] = data
    return manifest, verified


def _inference_arrays(scaler: Any, model: Any) -> bytes:
    """:data:`INFERENCE_FILE`'s bytes: the serving model's arrays, saved without pickles."""
    try:
        arrays = ProbabilityModel.from_fitted(scaler, model).to_arrays()
    except (TypeError, ValueError) as error:
        raise IncompatibleArtifactError(f"the model cannot be served: {error}") from None
    buffer = io.BytesIO()
    # to_arrays refused object arrays, so nothing is pickled. (numpy's stub types **arrays as if they
    # could fill savez's allow_pickle parameter, hence the ignore.)
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _read_inference_model(data: bytes, manifest: Manifest, path: Path) -> ProbabilityModel:
    """The :class:`ProbabilityModel` in ``data`` (the verified bytes of ``path``), checked against the manifest."""
    if not data.startswith(b"PK\x03\x04"):
        raise IncompatibleArtifactError(f"{path} is not an .npz archive")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:  # e.g. object arrays, which need pickle
        raise IncompatibleArtifactError(f"{path} cannot be read as plain arrays: {error}") from None
    try:
        model = ProbabilityModel.from_arrays(arrays)
    except ValueError as error:
        raise IncompatibleArtifactError(f"{path}: {error}") from None
    n_features = len(manifest.features)
    if model.n_features != n_features:
        raise IncompatibleArtifactError(f"{path} expects {model.n_features} features; the manifest lists {n_features}")
    if len(model.classes) != len(manifest.classes):
        raise IncompatibleArtifactError(
            f"{path} has {len(model.classes)} classes; the manifest lists {len(manifest.classes)}"
        )
    return model


def _pickle(obj: Any) -> bytes:
    import joblib  # noqa: PLC0415  (see load_model_dir)

    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def _check_fits(manifest: Manifest, scaler: Any, model: Any) -> None:
    """The manifest, scaler and model must agree on the number of features and classes."""
    n_features = len(manifest.features)
    for role, fitted in (("scaler", scaler), ("model", model)):
        seen = getattr(fitted, "n_features_in_", None)
        if seen != n_features:
            raise IncompatibleArtifactError(f"the {role} expects {seen} features; the manifest lists {n_features}")
    n_classes = len(getattr(model, "classes_", ()))
    if n_classes != len(manifest.classes):
        raise IncompatibleArtifactError(
            f"the model has {n_classes} classes; the manifest lists {len(manifest.classes)}"
        )
