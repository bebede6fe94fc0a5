"""The model runtime: loads a verified model directory and turns a feature matrix into predictions.

It knows nothing about HTTP or JSON; the data plane (``service.dataplane``) calls it with validated rows.
It loads through ``neuralnet.artifacts.load_serving_files``: the pickles are read through the allow-list
into their arrays, and scikit-learn is not imported, which keeps the start fast and the process small. Every
prediction gets its out-of-distribution score from the training statistics saved beside the model; an
explanation is computed only when asked for (:meth:`ModelRuntime.explain`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from neuralnet.artifacts import (
    NO_KEYS,
    IncompatibleArtifactError,
    Manifest,
    SignatureStatus,
    SigningKeys,
    load_serving_files,
    signature_status,
)
from neuralnet.attribution import Attributions
from neuralnet.novelty import NoveltyDetector, NoveltyScores
from service.errors import PredictionFailedError


def _unusable() -> PredictionFailedError:
    return PredictionFailedError("the model returned probabilities of the wrong shape or non-finite values")


class Predictor(Protocol):
    """What the runtime needs of a model: ``(n, n_classes)`` probabilities for a float64 ``(n, n_features)``
    matrix, and the attributions of one class's probability to the features (``neuralnet.inference``'s
    ``ProbabilityModel``, which the artifact contract loads, is one)."""

    def predict_proba(self, X: NDArray[np.float64], /) -> NDArray[np.float64]: ...

    def explain(self, X: NDArray[np.float64], class_index: int, /) -> Attributions: ...


@dataclass(frozen=True, slots=True)
class Prediction:
    """Row-aligned outputs: class probabilities in the manifest's class order and the index of each label."""

    probabilities: NDArray[np.float64]
    label_indices: NDArray[np.intp]
    novelty: NoveltyScores | None = None
    """Out-of-distribution scores; None for a model directory without the statistics."""


@dataclass(frozen=True, slots=True)
class ModelRuntime:
    """A loaded, verified model and what the manifest says about it. Immutable: reloading builds a new one."""

    directory: Path
    manifest: Manifest
    model: Predictor
    signature: SignatureStatus = "unsigned"
    novelty: NoveltyDetector | None = None
    model_card: Mapping[str, bytes] = field(default_factory=dict)
    """The verified model card files by name (``model_card.json``, ``model_card.md``), where the directory has them."""

    @classmethod
    def load(cls, directory: Path, keys: SigningKeys = NO_KEYS) -> ModelRuntime:
        """Load through the artifact contract; raises ``ArtifactError`` (missing, altered, unsigned, incompatible)."""
        directory = Path(directory)
        files = load_serving_files(directory, keys)  # the model equals the offline pipeline, bit for bit
        runtime = cls(
            directory=directory,
            manifest=files.manifest,
            model=files.model,
            signature=signature_status(directory, keys),
            novelty=files.novelty,
            model_card=files.model_card,
        )
        runtime._self_test()
        return runtime

    @property
    def version(self) -> str:
        return self.manifest.model_version

    @property
    def classes(self) -> tuple[str, ...]:
        return self.manifest.classes

    @property
    def n_features(self) -> int:
        return len(self.manifest.features)

    def predict(self, X: NDArray[np.float64]) -> Prediction:
        """Probabilities and labels for the rows of ``X`` (already validated), in one vectorised pass.

        The label is the positive class when its probability reaches the manifest's decision threshold,
        otherwise the most probable of the other classes.
        """
        try:
            probabilities = self.model.predict_proba(X)
            if type(probabilities) is not np.ndarray or probabilities.dtype != np.float64:
                probabilities = np.asarray(probabilities, dtype=np.float64)
        except Exception as error:
            raise PredictionFailedError(f"the model failed to predict: {type(error).__name__}") from error
        if probabilities.shape != (X.shape[0], len(self.manifest.classes)):
            raise _unusable()
        label_indices = self._label(probabilities[0].tolist()) if X.shape[0] == 1 else self._labels(probabilities)
        novelty = self.novelty.score(X) if self.novelty is not None else None
        return Prediction(probabilities=probabilities, label_indices=label_indices, novelty=novelty)

    def _labels(self, probabilities: NDArray[np.float64]) -> NDArray[np.intp]:
        if not math.isfinite(probabilities.sum()):  # NaN or infinity anywhere makes the sum one
            raise _unusable()
        manifest = self.manifest
        positive = manifest.positive_class_index
        is_positive = probabilities[:, positive] >= manifest.decision_threshold
        if len(manifest.classes) == 2:
            return np.where(is_positive, positive, 1 - positive)
        masked = probabilities.copy()
        masked[:, positive] = -np.inf
        return np.where(is_positive, positive, masked.argmax(axis=1))

    def _label(self, row: list[float]) -> NDArray[np.intp]:
        """:meth:`_labels` of one row, in plain Python: NumPy's per-call cost is most of one row's."""
        if not all(map(math.isfinite, row)):
            raise _unusable()
        manifest = self.manifest
        positive = manifest.positive_class_index
        if row[positive] >= manifest.decision_threshold:
            label = positive
        elif len(row) == 2:
            label = 1 - positive
        else:  # the first of the likeliest others, as argmax picks
            label = max((i for i in range(len(row)) if i != positive), key=row.__getitem__)
        return np.array([label], dtype=np.intp)

    def explain(self, X: NDArray[np.float64]) -> Attributions:
        """Integrated-gradient attributions of P(positive class) for the rows of ``X`` (already validated)."""
        try:
            return self.model.explain(X, self.manifest.positive_class_index)
        except Exception as error:
            raise PredictionFailedError(f"the model failed to explain: {type(error).__name__}") from error

    def _self_test(self) -> None:
        """Predict and explain one in-range row, so that a model that cannot fails at load, not on a request."""
        features = self.manifest.features
        row = np.array([[(f.training_min + f.training_max) / 2 for f in features]], dtype=np.float64)
        try:
            self.predict(row)
            self.explain(row)
        except PredictionFailedError as error:
            raise IncompatibleArtifactError(f"the model in {self.directory} cannot predict: {error}") from None
