"""The model directory: the one contract between the trainer that writes it and the service that reads it.

A model directory holds the fitted scaler and network as joblib pickles, any report files, and
``manifest.json``, which records what they are and the SHA-256 of every other file, and, when training had
a signing key, ``manifest.sig``: an HMAC-SHA256 of the manifest's bytes, which proves that the manifest (and so
every file it hashes) is the one training wrote. Readers given keys check the signature, then the hash of each
file the model is made of (:data:`MODEL_FILES`), *before* anything is parsed, use the very bytes they verified
(the report files are for people, so a changed or missing one is reported by :func:`report_file_problems`,
not refused), and unpickle only through an allow-list
(:mod:`neuralnet.unpickling`): a pickle that names any class or callable besides NumPy's arrays, the scaler
and our estimators is refused before anything in it runs. :func:`load_model_dir` rebuilds the estimators
themselves (offline use; it imports scikit-learn); :func:`load_inference_model` reads only their arrays into
the serving model, without importing scikit-learn (the service). Writers build the directory beside its
destination and rename it into place, so a reader never sees a half-written model.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from neuralnet import pickled_model
from neuralnet.inference import ProbabilityModel
from neuralnet.novelty import NoveltyDetector
from neuralnet.unpickling import ForbiddenPickleError, load_allowed

FORMAT_VERSION: Final = 3
"""Version 3 dropped ``inference.npz`` (version 2), a copy of the pickles' arrays: the pickles are served."""
READABLE_FORMAT_VERSIONS: Final = frozenset({2, 3})
"""Version 2 directories still read: their ``inference.npz`` is verified like the pickles, then ignored."""
MANIFEST_FILE: Final = "manifest.json"
SCALER_FILE: Final = "scaler.joblib"
MODEL_FILE: Final = "model.joblib"
NOVELTY_FILE: Final = "novelty.npz"
"""Training statistics of the out-of-distribution score (:class:`~neuralnet.novelty.NoveltyDetector`); optional:
a directory without it is served without that score."""
MODEL_CARD_JSON_FILE: Final = "model_card.json"
MODEL_CARD_MARKDOWN_FILE: Final = "model_card.md"
"""The model card, for programs and for people; optional, like the novelty statistics."""
REQUIRED_FILES: Final = (SCALER_FILE, MODEL_FILE)
MODEL_FILES: Final = frozenset(
    {*REQUIRED_FILES, NOVELTY_FILE, MODEL_CARD_JSON_FILE, MODEL_CARD_MARKDOWN_FILE, "inference.npz"}
)
"""The files the service reads or serves (``inference.npz`` in version 2): a reader refuses the directory when
one is altered. Every other file the manifest records (``report.md``, the plots) is a report file, for people
only: see `report_file_problems`."""
COMPARED_LIBRARIES: Final = ("numpy", "scikit-learn", "joblib")
"""Libraries whose trainer and reader versions :func:`library_mismatches` compares."""
SIGNATURE_FILE: Final = "manifest.sig"
"""``{"algorithm": "HMAC-SHA256", "key_id": ..., "signature": hex}`` over the exact bytes of the manifest."""
SIGNING_KEY_ENV: Final = "MODEL_SIGNING_KEY"
"""The secret that training signs with and readers verify with (both read it from the environment)."""
PREVIOUS_SIGNING_KEY_ENV: Final = "MODEL_SIGNING_KEY_PREVIOUS"
"""During a key rotation, the old key: still accepted by readers, never used to sign."""
MIN_KEY_LENGTH: Final = 32
SIGNATURE_ALGORITHM: Final = "HMAC-SHA256"
LATEST_LINK: Final = "latest"
"""Name of the symlink, inside a models root, that points at the newest model directory."""

_T = TypeVar("_T")
_API_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ArtifactError(Exception):
    """Base class: the model directory cannot be used. The message says why, in one line."""


class MissingArtifactError(ArtifactError):
    """A file the contract requires is absent."""


class AlteredArtifactError(ArtifactError):
    """A file's bytes differ from the hash the manifest recorded."""


class SignatureError(ArtifactError):
    """Readers hold a signing key and the manifest is unsigned, or its signature matches none of their keys."""


class IncompatibleArtifactError(ArtifactError):
    """The files are intact but do not fit this code: wrong format version, inconsistent shapes or names."""


class ForbiddenArtifactError(ArtifactError):
    """A pickle names a class or callable outside the allow-list (or hides objects in an array): never run."""


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
    threshold_selection: dict[str, Any] = Field(
        default_factory=dict, description="How decision_threshold was chosen, and what it gives under cross-validation."
    )
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


SignatureStatus = Literal["verified", "unsigned", "not_verified"]
"""What a reader can say of a directory it loaded: signature checked; no signature and no key; signed, no key."""


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The key that signs (and verifies) and, while keys are rotated, a previous one that still verifies."""

    current: bytes | None = None
    previous: bytes | None = None

    def __post_init__(self) -> None:
        for name, key in ((SIGNING_KEY_ENV, self.current), (PREVIOUS_SIGNING_KEY_ENV, self.previous)):
            if key is not None and len(key) < MIN_KEY_LENGTH:
                raise ValueError(f"{name} must be at least {MIN_KEY_LENGTH} characters (e.g. `openssl rand -hex 32`)")
        if self.previous is not None and self.current is None:
            raise ValueError(f"{PREVIOUS_SIGNING_KEY_ENV} is set without {SIGNING_KEY_ENV}")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SigningKeys:
        """Keys from :data:`SIGNING_KEY_ENV` and :data:`PREVIOUS_SIGNING_KEY_ENV`; empty values count as unset."""
        environ = os.environ if environ is None else environ
        current, previous = (environ.get(name, "").strip() for name in (SIGNING_KEY_ENV, PREVIOUS_SIGNING_KEY_ENV))
        return cls(current.encode() or None, previous.encode() or None)

    @property
    def accepted(self) -> tuple[bytes, ...]:
        return tuple(key for key in (self.current, self.previous) if key is not None)


NO_KEYS: Final = SigningKeys()


def key_id(key: bytes) -> str:
    """A short name for a key that reveals nothing about it, so that logs can say which key signed what."""
    return hmac.new(key, b"wdbc-model-signing-key-id", hashlib.sha256).hexdigest()[:12]


def signature_status(directory: Path, keys: SigningKeys) -> SignatureStatus:
    """What to report about a directory that loaded: with keys, its signature was checked by the loader."""
    if keys.accepted:
        return "verified"
    return "not_verified" if (Path(directory) / SIGNATURE_FILE).exists() else "unsigned"


def sign_model_dir(directory: Path, key: bytes, *, accepted: Sequence[bytes] = ()) -> str:
    """(Re-)sign ``directory``'s manifest with ``key``; return the key id.

    The directory is verified first: with ``accepted`` keys its current signature must match one of them (a key
    rotation re-signs what the old key signed), and every file must match its hash. The signature file is
    replaced atomically.
    """
    directory = Path(directory)
    _read_verified(directory, accepted)
    manifest_bytes = (directory / MANIFEST_FILE).read_bytes()
    _write_atomically(directory / SIGNATURE_FILE, _signature(manifest_bytes, key))
    return key_id(key)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_model_dir(
    destination: Path,
    *,
    scaler: Any,
    model: Any,
    manifest_fields: Mapping[str, Any],
    extra_files: Mapping[str, bytes] | None = None,
    signing_key: bytes | None = None,
) -> Manifest:
    """Write a complete model directory at ``destination`` and return its manifest.

    ``manifest_fields`` holds every manifest field except ``format_version`` and ``artifacts``, which are
    filled in here. ``scaler`` and ``model`` must be a fitted ``StandardScaler`` and a network classifier or
    ensemble: the pickles are read back as the service reads them before anything is renamed into place.
    ``extra_files`` (report, plots) are hashed like the pickles. An existing model directory at
    ``destination`` is replaced; any other non-empty directory there is refused. With ``signing_key`` the
    manifest is signed (:data:`SIGNATURE_FILE`).
    """
    destination = Path(destination)
    if destination.exists() and any(destination.iterdir()) and not (destination / MANIFEST_FILE).exists():
        raise FileExistsError(
            f"{destination} exists, is not empty and is not a model directory; refusing to replace it"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        files: dict[str, bytes] = {SCALER_FILE: _pickle(scaler), MODEL_FILE: _pickle(model)}
        for name, data in (extra_files or {}).items():
            if name in files or name in (MANIFEST_FILE, SIGNATURE_FILE) or Path(name).name != name:
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
        _check_servable(scaler, model)
        _read_serving_model(files, manifest, destination)  # what the service will read must read back
        if NOVELTY_FILE in files:
            NoveltyDetector.from_npz(files[NOVELTY_FILE])  # so must the out-of-distribution statistics
        manifest_bytes = (manifest.model_dump_json(indent=2) + "\n").encode("utf-8")
        (staging / MANIFEST_FILE).write_bytes(manifest_bytes)
        if signing_key is not None:
            (staging / SIGNATURE_FILE).write_bytes(_signature(manifest_bytes, signing_key))
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
    """Parse and validate ``manifest.json`` alone, without touching the pickles (nor checking its signature)."""
    path = Path(directory) / MANIFEST_FILE
    return _parse_manifest(_read_manifest_bytes(Path(directory)), path)


def _read_manifest_bytes(directory: Path) -> bytes:
    if not directory.is_dir():
        raise MissingArtifactError(f"model directory {directory} does not exist")
    try:
        return (directory / MANIFEST_FILE).read_bytes()
    except FileNotFoundError:
        raise MissingArtifactError(f"{directory / MANIFEST_FILE} is missing") from None


def _parse_manifest(data: bytes, path: Path) -> Manifest:
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise IncompatibleArtifactError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise IncompatibleArtifactError(f"{path} does not hold a JSON object")
    if raw.get("format_version") not in READABLE_FORMAT_VERSIONS:
        raise IncompatibleArtifactError(
            f"{path} has format_version {raw.get('format_version')!r};"
            f" this code reads versions {sorted(READABLE_FORMAT_VERSIONS)}"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "manifest"
        raise IncompatibleArtifactError(f"{path}: {where}: {first['msg']}") from None


def load_model_dir(directory: Path, keys: SigningKeys = NO_KEYS) -> LoadedModel:
    """Verify every file against the manifest, then rebuild the fitted scaler and model from the verified bytes.

    For offline use (evaluation, notebooks): it imports scikit-learn. The service uses :func:`load_inference_model`.
    Like it, it unpickles through the allow-list, here resolved to the real classes.
    """
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415  (offline only: the service never imports it)

    from neuralnet.classifier import NeuralNetClassifier  # noqa: PLC0415
    from neuralnet.ensemble import NetworkEnsembleClassifier  # noqa: PLC0415

    classes = {
        pickled_model.SCALER_CLASS: StandardScaler,
        pickled_model.NETWORK_CLASS: NeuralNetClassifier,
        pickled_model.ENSEMBLE_CLASS: NetworkEnsembleClassifier,
    }
    directory = Path(directory)
    manifest, verified = _read_verified(directory, keys.accepted)
    scaler = _unpickled(
        directory / SCALER_FILE, lambda: load_allowed(verified[SCALER_FILE], classes, source=SCALER_FILE)
    )
    model = _unpickled(directory / MODEL_FILE, lambda: load_allowed(verified[MODEL_FILE], classes, source=MODEL_FILE))
    _check_fits(manifest, scaler, model)
    return LoadedModel(directory=directory, manifest=manifest, scaler=scaler, model=model)


def load_inference_model(directory: Path, keys: SigningKeys = NO_KEYS) -> tuple[Manifest, ProbabilityModel]:
    """Verify the signature (with keys) and every file, then build the serving model from the pickles' arrays.

    The pickles are read through the allow-list into stand-ins (:mod:`neuralnet.pickled_model`): nothing of
    scikit-learn is imported or run.
    """
    directory = Path(directory)
    manifest, verified = _read_verified(directory, keys.accepted)
    return manifest, _read_serving_model(verified, manifest, directory)


def library_mismatches(manifest: Manifest) -> tuple[str, ...]:
    """One line per library installed here whose major.minor version differs from the trainer's.

    A difference is reported, not refused: readers take only arrays and plain values out of the pickles and
    check every one of them, so a difference that matters fails the load with its own reason.
    """
    lines = []
    for name in COMPARED_LIBRARIES:
        trained = manifest.library_versions.get(name)
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed: the serving reader does not use it
        if trained is not None and trained.split(".")[:2] != installed.split(".")[:2]:
            lines.append(f"{name} {trained} trained the model; {installed} reads it")
    return tuple(lines)


@dataclass(frozen=True, slots=True)
class ServingFiles:
    """Everything the service serves from one verified read of a model directory."""

    manifest: Manifest
    model: ProbabilityModel
    novelty: NoveltyDetector | None
    """None for a directory written before the out-of-distribution statistics existed."""
    model_card: Mapping[str, bytes]
    """The verified bytes of :data:`MODEL_CARD_JSON_FILE` and :data:`MODEL_CARD_MARKDOWN_FILE`, where present."""


def load_serving_files(directory: Path, keys: SigningKeys = NO_KEYS) -> ServingFiles:
    """:func:`load_inference_model`, plus the out-of-distribution statistics and the model card, from one read."""
    directory = Path(directory)
    manifest, verified = _read_verified(directory, keys.accepted)
    return ServingFiles(
        manifest=manifest,
        model=_read_serving_model(verified, manifest, directory),
        novelty=_read_novelty(verified, manifest, directory),
        model_card={
            name: verified[name] for name in (MODEL_CARD_JSON_FILE, MODEL_CARD_MARKDOWN_FILE) if name in verified
        },
    )


def _read_novelty(verified: Mapping[str, bytes], manifest: Manifest, directory: Path) -> NoveltyDetector | None:
    if NOVELTY_FILE not in verified:
        return None
    try:
        detector = NoveltyDetector.from_npz(verified[NOVELTY_FILE])
    except ValueError as error:
        raise IncompatibleArtifactError(f"{directory / NOVELTY_FILE}: {error}") from None
    if detector.n_features != len(manifest.features):
        raise IncompatibleArtifactError(
            f"{directory / NOVELTY_FILE} describes {detector.n_features} features; the manifest lists "
            f"{len(manifest.features)}"
        )
    return detector


def _read_verified(directory: Path, keys: Sequence[bytes]) -> tuple[Manifest, dict[str, bytes]]:
    """The manifest, its signature checked against ``keys`` (if any), and the bytes of every file it lists,
    each checked against its recorded SHA-256."""
    manifest_bytes = _read_manifest_bytes(directory)
    if keys:
        _check_signature(directory, manifest_bytes, keys)
    manifest = _parse_manifest(manifest_bytes, directory / MANIFEST_FILE)
    for required in REQUIRED_FILES:
        if required not in manifest.artifacts:
            raise IncompatibleArtifactError(f"{directory / MANIFEST_FILE} records no hash for {required}")
    verified: dict[str, bytes] = {}
    for name, expected in manifest.artifacts.items():
        path = directory / name
        if Path(name).name != name:
            raise IncompatibleArtifactError(f"{directory / MANIFEST_FILE} names a file outside the directory: {name!r}")
        if name not in MODEL_FILES:
            continue  # a report file: see report_file_problems
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise MissingArtifactError(f"{path} is missing") from None
        if sha256_bytes(data) != expected:
            raise AlteredArtifactError(f"{path} does not match the SHA-256 recorded in the manifest; it was altered")
        verified[name] = data
    return manifest, verified


def report_file_problems(directory: Path, manifest: Manifest) -> tuple[str, ...]:
    """One line per report file (``report.md``, plots: any recorded file the model is not made of) that is
    missing or differs from its recorded hash. Editing a file meant for people does not stop the model from
    loading; readers log these lines instead."""
    lines = []
    for name, expected in manifest.artifacts.items():
        if name in MODEL_FILES or Path(name).name != name:
            continue
        try:
            data = (Path(directory) / name).read_bytes()
        except OSError as error:
            lines.append(f"report file {name} cannot be read ({error.strerror or error}); the model is unaffected")
            continue
        if sha256_bytes(data) != expected:
            lines.append(f"report file {name} differs from the one the trainer wrote; the model is unaffected")
    return tuple(lines)


def _check_servable(scaler: Any, model: Any) -> None:
    """The scaler and model must be of the classes the service reads (a clearer message than the allow-list's)."""
    try:
        ProbabilityModel.from_fitted(scaler, model)
    except (TypeError, ValueError) as error:
        raise IncompatibleArtifactError(f"the model cannot be served: {error}") from None


def _read_serving_model(verified: Mapping[str, bytes], manifest: Manifest, directory: Path) -> ProbabilityModel:
    """The serving model in the verified pickles, checked against the manifest."""
    model = _unpickled(
        directory,
        lambda: pickled_model.read_probability_model(
            verified[SCALER_FILE], verified[MODEL_FILE], sources=(SCALER_FILE, MODEL_FILE)
        ),
    )
    n_features = len(manifest.features)
    if model.n_features != n_features:
        raise IncompatibleArtifactError(
            f"{directory / MODEL_FILE} expects {model.n_features} features; the manifest lists {n_features}"
        )
    if len(model.classes) != len(manifest.classes):
        raise IncompatibleArtifactError(
            f"{directory / MODEL_FILE} has {len(model.classes)} classes; the manifest lists {len(manifest.classes)}"
        )
    return model


def _unpickled(directory: Path, read: Callable[[], _T]) -> _T:
    """``read()``, its failures turned into artifact errors that name ``directory``."""
    try:
        return read()
    except ForbiddenPickleError as error:
        raise ForbiddenArtifactError(f"refused the model in {directory}: {error}") from None
    except Exception as error:  # a broken stream raises what the byte it stopped at causes (struct.error, ...)
        raise IncompatibleArtifactError(f"cannot read the model in {directory}: {error}") from None


def _pickle(obj: Any) -> bytes:
    import joblib  # noqa: PLC0415  (the trainer's dependency; readers do without it)

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


def _signature(manifest_bytes: bytes, key: bytes) -> bytes:
    digest = hmac.new(key, manifest_bytes, hashlib.sha256).hexdigest()
    record = {"algorithm": SIGNATURE_ALGORITHM, "key_id": key_id(key), "signature": digest}
    return (json.dumps(record, indent=2) + "\n").encode("ascii")


def _check_signature(directory: Path, manifest_bytes: bytes, keys: Sequence[bytes]) -> None:
    """The manifest's bytes must carry a valid signature by one of ``keys``; checked before they are parsed."""
    path = directory / SIGNATURE_FILE
    try:
        record = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise SignatureError(
            f"{directory} is unsigned (no {SIGNATURE_FILE}) but a signing key is set: sign it or train it with the key"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SignatureError(f"{path} is not a valid signature file") from None
    if not isinstance(record, dict) or record.get("algorithm") != SIGNATURE_ALGORITHM:
        raise SignatureError(f"{path} is not an {SIGNATURE_ALGORITHM} signature")
    claimed = record.get("signature")
    if isinstance(claimed, str):
        for key in keys:
            if hmac.compare_digest(hmac.new(key, manifest_bytes, hashlib.sha256).hexdigest(), claimed):
                return
    raise SignatureError(
        f"{directory / MANIFEST_FILE} does not match its signature: it was altered after signing, or signed with "
        f"another key (signed by key id {str(record.get('key_id'))[:12]!r}; "
        f"accepted: {', '.join(repr(key_id(key)) for key in keys)})"
    )


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_bytes(data)
    temporary.replace(path)
