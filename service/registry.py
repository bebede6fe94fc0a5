"""The model repository: versioned model directories under one root, and the one model being served.

A models root holds one directory per version (named by the trainer after the model version) and ``latest``, a
symlink to the one to serve. :class:`ModelRegistry` loads a version completely - every hash verified, the
pickles read through the allow-list, a prediction run, and whatever the protocols build for it - and only then
swaps one reference: a request that took the model before the swap finishes on it, every later one gets the new
one, and no request ever sees half of each. A version that fails is refused with a log line, a metric and its
reason in :meth:`ModelRegistry.index`, and the model being served stays.

Reload (:meth:`ModelRegistry.reload`) follows ``latest`` again: SIGHUP calls it (``service.lifecycle``), the
optional watch when the link moves, and the repository endpoints load a named version. Loads run one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, Protocol, TypeVar

from neuralnet.artifacts import (
    LATEST_LINK,
    MANIFEST_FILE,
    NO_KEYS,
    SIGNING_KEY_ENV,
    AlteredArtifactError,
    ArtifactError,
    ForbiddenArtifactError,
    IncompatibleArtifactError,
    MissingArtifactError,
    SignatureError,
    SigningKeys,
    library_mismatches,
    report_file_problems,
)
from service.errors import ErrorDetail, ModelNotFoundError, ModelNotReadyError
from service.metrics import Metrics
from service.model import ModelRuntime

logger = logging.getLogger("service.model")

_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/[^\s:;,'\"()]+")


def without_paths(message: str, directory: Path) -> str:
    """``message`` with each file path cut to its last part: ``/srv/models/v3/model.joblib`` -> ``model.joblib``."""
    message = message.replace(str(directory), Path(directory).name or ".")
    return _ABSOLUTE_PATH.sub(lambda match: Path(match.group()).name or "/", message)


State = Literal["READY", "UNAVAILABLE"]

_REASONS: tuple[tuple[type[ArtifactError], str], ...] = (
    (MissingArtifactError, "missing"),
    (AlteredArtifactError, "altered"),
    (SignatureError, "signature"),
    (IncompatibleArtifactError, "incompatible"),
    (ForbiddenArtifactError, "forbidden"),
)


class Versioned(Protocol):
    @property
    def version(self) -> str: ...


Served = TypeVar("Served", bound=Versioned)


@dataclass(frozen=True, slots=True)
class VersionEntry:
    """One version in the repository index (the fields of the Open Inference Protocol's index, and more)."""

    version: str
    """The version directory's name: what ``load`` takes."""
    state: State
    reason: str
    """Why the version is not served: empty while READY."""
    latest: bool
    """Whether ``latest`` points at it."""
    warnings: tuple[str, ...] = ()
    """Library version differences between its trainer and this service (loaded versions only)."""


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    """What a load did: ``loaded`` (a new model is served), ``unchanged`` (it was already) or ``failed``."""

    result: Literal["loaded", "unchanged", "failed"]
    version: str | None
    """The version served afterwards (None when nothing is)."""
    reason: ErrorDetail | None = None
    """Why the load failed."""

    @property
    def ok(self) -> bool:
        return self.result != "failed"


@dataclass(frozen=True, slots=True)
class _Loaded(Generic[Served]):
    served: Served
    directory: Path
    """The resolved version directory (never the ``latest`` link)."""
    warnings: tuple[str, ...]


class ModelRegistry(Generic[Served]):
    """The served model of one app and the versions beside it.

    ``model_dir`` is what to serve at start and on reload, normally ``<models root>/latest``; its parent is the
    models root, whose version directories :meth:`load` can also serve by name. ``build`` turns a loaded
    runtime into what requests use (the data plane's served model, with the protocols' codecs built), so a
    version the protocols cannot serve fails here, before any request sees it. ``keys`` check the manifests'
    signatures (none: not checked).
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        build: Callable[[ModelRuntime], Served],
        metrics: Metrics,
        model_name: str,
        keys: SigningKeys = NO_KEYS,
    ) -> None:
        self._model_dir = Path(model_dir)
        self._keys = keys
        self._build = build
        self._metrics = metrics
        self.model_name = model_name
        self._loaded: _Loaded[Served] | None = None
        self._reason = ErrorDetail(("model",), "the model has not been loaded yet", "not_loaded")
        self._failures: dict[str, ErrorDetail] = {}
        self._lock = threading.Lock()

    @property
    def models_root(self) -> Path:
        return self._model_dir.parent

    @property
    def served(self) -> Served | None:
        """The model being served, or None. Read it once per request and keep it to the end of the request."""
        loaded = self._loaded
        return loaded.served if loaded is not None else None

    def current(self) -> Served:
        """The model being served; ``ModelNotReadyError`` (503, with the reason) while there is none."""
        loaded = self._loaded
        if loaded is None:
            raise ModelNotReadyError(f"no model is loaded: {self._reason.msg}", [self._reason])
        return loaded.served

    def reload(self) -> LoadOutcome:
        """Serve what ``model_dir`` (``latest``) points at now, unless it is already the one being served."""
        return self._load(self._model_dir, only_if_moved=True)

    def load(self, version: str | None = None) -> LoadOutcome:
        """Load ``version`` (a directory of the models root), or what ``model_dir`` points at, even if served.

        Raises ``ModelNotFoundError`` (404) for a name that is not a version directory of the root.
        """
        return self._load(self._model_dir if version is None else self._version_dir(version), only_if_moved=False)

    def unload(self) -> None:
        """Stop serving: requests get 503 (reason ``unloaded``) until the next load."""
        with self._lock:
            self._reason = ErrorDetail(("model",), "the model was unloaded through the repository API", "unloaded")
            self._loaded = None
            self._metrics.model_loaded(None)
        logger.warning("model unloaded", extra={"event": "model_unloaded"})

    async def watch(self, seconds: float) -> None:
        """Reload whenever ``latest`` points somewhere new, checked every ``seconds``; cancel the task to stop.

        A version that fails is tried once per move of the link, not on every check.
        """
        loaded = self._loaded
        seen = loaded.directory if loaded is not None else self.target()
        while True:
            await asyncio.sleep(seconds)
            target = self.target()
            if target != seen:
                seen = target
                await asyncio.to_thread(self.reload)

    def target(self) -> Path:
        """The directory ``model_dir`` resolves to now (``latest`` followed)."""
        return Path(os.path.realpath(self._model_dir))

    def index(self) -> list[VersionEntry]:
        """Every version directory of the models root, with its state; the served one even if outside it."""
        loaded, failures = self._loaded, dict(self._failures)
        latest = self.target()
        directories = sorted(
            (
                child
                for child in self._safe_children()
                if not child.name.startswith(".")
                and child.name != LATEST_LINK
                and not child.is_symlink()
                and (child / MANIFEST_FILE).is_file()
            ),
            key=lambda child: child.name,
        )
        if loaded is not None and loaded.directory not in [Path(os.path.realpath(d)) for d in directories]:
            directories.append(loaded.directory)
        entries = []
        for directory in directories:
            resolved = Path(os.path.realpath(directory))
            if loaded is not None and resolved == loaded.directory:
                entries.append(VersionEntry(directory.name, "READY", "", resolved == latest, loaded.warnings))
                continue
            failure = failures.get(str(resolved))
            reason = f"{failure.type}: {failure.msg}" if failure is not None else "not loaded"
            entries.append(VersionEntry(directory.name, "UNAVAILABLE", reason, resolved == latest))
        return entries

    # Loading -----------------------------------------------------------------------------------------------

    def _load(self, directory: Path, *, only_if_moved: bool) -> LoadOutcome:
        with self._lock:
            resolved = Path(os.path.realpath(directory))
            loaded = self._loaded
            if only_if_moved and loaded is not None and loaded.directory == resolved:
                return LoadOutcome("unchanged", loaded.served.version)
            try:
                runtime = ModelRuntime.load(resolved, self._keys)
                served = self._build(runtime)
            except ArtifactError as error:
                reason = next((name for kind, name in _REASONS if isinstance(error, kind)), "invalid")
                return self._failed(resolved, ErrorDetail(("model",), str(error), reason))
            except Exception as error:  # a bug or an unreadable file: still one line, never a crash loop
                return self._failed(resolved, ErrorDetail(("model",), f"{type(error).__name__}: {error}", "error"))
            warnings = library_mismatches(runtime.manifest)
            previous = loaded.served.version if loaded is not None else None
            self._loaded = _Loaded(served, resolved, warnings)  # the swap: one reference
            self._failures.pop(str(resolved), None)
            self._metrics.model_loaded(served.version)
        signature = runtime.signature
        logger.info(
            "model loaded",
            extra={
                "model_version": served.version,
                "previous_version": previous,
                "model_dir": str(resolved),
                "signature": signature,
                "event": "model_loaded",
            },
        )
        if signature != "verified":
            logger.warning(
                "the model's signature is not checked (%s): set %s to refuse altered or unsigned models",
                signature,
                SIGNING_KEY_ENV,
                extra={"model_version": served.version, "signature": signature, "event": "model_unsigned"},
            )
        for line in warnings:
            logger.warning("library versions differ: %s", line, extra={"event": "model_library_mismatch"})
        for problem in report_file_problems(resolved, runtime.manifest):
            logger.warning(problem, extra={"model_dir": str(resolved), "event": "report_file_changed"})
        return LoadOutcome("loaded", served.version)

    def _failed(self, directory: Path, reason: ErrorDetail) -> LoadOutcome:
        # Clients learn what is wrong, not where the server keeps its files; the log keeps the whole message.
        public = ErrorDetail(reason.loc, without_paths(reason.msg, directory), reason.type)
        self._failures[str(directory)] = public
        self._metrics.load_failed(reason.type)
        loaded = self._loaded
        if loaded is None:
            self._reason = public
            self._metrics.model_loaded(None)
        logger.error(
            "model not loaded (%s): %s",
            reason.type,
            reason.msg,
            extra={"model_dir": str(directory), "reason": reason.type, "event": "model_load_failed"},
        )
        return LoadOutcome("failed", loaded.served.version if loaded is not None else None, public)

    def _version_dir(self, version: str) -> Path:
        if version == LATEST_LINK:
            return self._model_dir
        candidate = self.models_root / version
        if Path(version).name != version or version.startswith(".") or not (candidate / MANIFEST_FILE).is_file():
            raise ModelNotFoundError(
                f"{self.models_root} holds no model version {version!r}; GET /v2/repository/index lists them",
                [ErrorDetail(("parameters", "version"), "no such version", "not_found")],
            )
        return candidate

    def _safe_children(self) -> list[Path]:
        try:
            return list(self.models_root.iterdir())
        except OSError:
            return []
