"""The data plane: the served model and inference on validated rows, the same for every protocol.

It knows nothing about HTTP or any wire format. Protocol adapters (``service.protocols``) decode a request
into a float64 matrix, call :meth:`DataPlane.infer` with the model they took from :meth:`DataPlane.current`,
and encode the :class:`Inference` it returns. A request takes the current model once and keeps it to the end,
so loading another version (which the registry, ``service.registry``, builds completely, then swaps in as one
reference) never mixes two models in one answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from neuralnet.artifacts import NO_KEYS, SigningKeys
from neuralnet.attribution import Attributions
from neuralnet.novelty import NoveltyScores
from service.errors import ModelNotFoundError, safe_text
from service.metrics import Metrics
from service.model import ModelRuntime
from service.registry import ModelRegistry

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may carry, the same for every protocol."""

    max_batch_rows: int
    max_body_bytes: int


@dataclass(frozen=True, slots=True)
class Explanation:
    """Attributions of P(positive class) for each row, with the rows they explain."""

    attributions: Attributions
    rows: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Inference:
    """The answer for a batch of rows: everything a protocol needs to encode, row-aligned.

    ``extras`` holds optional per-row outputs by name (first axis = rows), which every protocol passes on
    after the standard ones.
    """

    model_name: str
    model_version: str
    classes: tuple[str, ...]
    probabilities: NDArray[np.float64]
    """``(n_rows, n_classes)``, columns in the order of ``classes``."""
    label_indices: NDArray[np.intp]
    """``(n_rows,)`` index into ``classes`` of each row's label."""
    novelty: NoveltyScores | None = None
    """Each row's out-of-distribution score; None when the model directory has no training statistics."""
    explanation: Explanation | None = None
    """Only when the request asked for it."""
    extras: Mapping[str, NDArray[Any]] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.label_indices.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class ServedModel:
    """A loaded model with its name and limits, and what protocols built for it (see :meth:`derived`).

    Immutable apart from that cache, so a request that holds it never sees half of another model.
    """

    name: str
    runtime: ModelRuntime
    limits: Limits
    _derived: dict[Callable[[ServedModel], Any], Any] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> str:
        return self.runtime.version

    @property
    def n_features(self) -> int:
        return self.runtime.n_features

    def derived(self, build: Callable[[ServedModel], T]) -> T:
        """``build(self)``, computed once per model: codecs, schemas and metadata documents that depend on it."""
        try:
            return cast(T, self._derived[build])
        except KeyError:
            value = self._derived[build] = build(self)
            return value


def _count_flagged(novelty: NoveltyScores) -> int:
    if len(novelty.score) == 1:  # a lone row: one comparison, not two NumPy calls
        return int(novelty.score[0] > 1.0)
    return int(np.count_nonzero(novelty.flagged))


class DataPlane:
    """Runs inference for every protocol on the model its registry serves.

    ``prepare`` lists what each protocol derives from a model (codecs, documents); the registry has them built
    when a version loads, before it is served, so the first request pays nothing and a version they reject is
    not served.
    """

    def __init__(
        self,
        metrics: Metrics,
        *,
        model_dir: Path,
        model_name: str,
        limits: Limits,
        prepare: tuple[Callable[[ServedModel], object], ...] = (),
        keys: SigningKeys = NO_KEYS,
    ) -> None:
        self._metrics = metrics
        self._model_name = model_name
        self._limits = limits
        self._prepare = prepare
        self.registry: ModelRegistry[ServedModel] = ModelRegistry(
            model_dir, build=self._serve, metrics=metrics, model_name=model_name, keys=keys
        )

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def served(self) -> ServedModel | None:
        """The model being served, or None; read it once per request and keep it."""
        return self.registry.served

    def current(self) -> ServedModel:
        """The model being served; ``ModelNotReadyError`` (503) while there is none."""
        return self.registry.current()

    def model(self, name: str, version: str | None = None) -> ServedModel:
        """The served model if ``name`` (and ``version``, when given) name it: 404 if not, 503 while none is loaded."""
        if name != self._model_name:
            raise ModelNotFoundError(f"unknown model {safe_text(name)!r}; this server serves {self._model_name!r}")
        served = self.current()
        if version is not None and version != served.version:
            raise ModelNotFoundError(
                f"unknown version {safe_text(version)!r} of model {self._model_name!r}; it serves {served.version!r}"
            )
        return served

    def infer(self, served: ServedModel, rows: NDArray[np.float64], *, explain: bool = False) -> Inference:
        """Predict validated rows (a C-contiguous float64 ``(n, n_features)`` matrix) in one pass; with
        ``explain``, also attribute each row's probability to its features (which costs some 50 predictions)."""
        prediction = served.runtime.predict(rows)
        explanation = Explanation(served.runtime.explain(rows), rows) if explain else None
        if prediction.novelty is not None:
            self._metrics.count_out_of_distribution(_count_flagged(prediction.novelty))
        self._metrics.count_predictions(served.runtime.classes, prediction.label_indices)
        return Inference(
            model_name=served.name,
            model_version=served.version,
            classes=served.runtime.classes,
            probabilities=prediction.probabilities,
            label_indices=prediction.label_indices,
            novelty=prediction.novelty,
            explanation=explanation,
        )

    def _serve(self, runtime: ModelRuntime) -> ServedModel:
        """A loaded runtime made ready to serve: what every protocol derives from it is built now."""
        served = ServedModel(name=self._model_name, runtime=runtime, limits=self._limits)
        for build in self._prepare:
            served.derived(build)
        return served
