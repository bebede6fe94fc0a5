"""How unlike the training rows a record is: an out-of-distribution score from training statistics.

Every feature is a positive measurement with a long right tail, so the statistics live on
``log(x + offset)`` (the offset, half the smallest positive training value, keeps zeros finite), standardised.
There, with the training rows' mean and precision matrix ``P``, two statistics are computed for a record:

- the Mahalanobis distance ``sqrt(d' P d)``, which catches a record unlike the training rows as a whole;
- the largest standardised *conditional residual* ``|(P d)_j| / sqrt(P_jj)``: how far feature ``j`` is from
  what the other 29 predict (for a Gaussian, ``(P d)_j / P_jj`` is exactly that regression's residual and
  ``1 / P_jj`` its variance). It catches one wrong feature - a typo, a unit slip - in an otherwise typical
  record, which the distance spreads over 30 dimensions and misses.

Each statistic is divided by its own threshold, set by training at the 99th percentile of out-of-fold training
rows; the score is the larger ratio, and a record is flagged when it exceeds 1. Only NumPy is needed here: the
fitting (:mod:`training.novelty`) uses scikit-learn.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from neuralnet.aliases import Array

ARRAYS: Final = ("offset", "log_mean", "log_scale", "location", "precision", "thresholds")


@dataclass(frozen=True, slots=True)
class NoveltyScores:
    """Per row: the score (flagged above 1), the two statistics, and the feature least consistent with the rest."""

    score: Array
    distance: Array
    residual: Array
    feature_index: NDArray[np.intp]

    @property
    def flagged(self) -> NDArray[np.bool_]:
        return self.score > 1.0


@dataclass(frozen=True, slots=True)
class NoveltyDetector:
    """The training statistics and thresholds; :meth:`score` needs nothing else."""

    offset: Array
    log_mean: Array
    log_scale: Array
    location: Array
    precision: Array
    thresholds: Array
    """``[distance, residual]`` at which the score reaches 1."""
    _residual_scale: Array = field(init=False, repr=False, compare=False)
    """``sqrt(diag(precision))``: each conditional residual's standard deviation is its inverse."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_residual_scale", np.sqrt(np.diag(self.precision)))

    @property
    def n_features(self) -> int:
        return int(self.offset.shape[0])

    def standardise(self, X: Array) -> Array:
        """Rows of ``X`` (non-negative raw features) in the detector's standardised log space."""
        Z = X + self.offset
        np.log(Z, out=Z)  # in place, here and below: the same arithmetic without a fresh array for every step
        Z -= self.log_mean
        Z /= self.log_scale
        return Z

    def score(self, X: Array) -> NoveltyScores:
        """Scores of the rows of ``X``: a float64 ``(n_rows, n_features)`` array of non-negative raw features."""
        if X.shape[0] == 1:
            return self._score_row(X[0])
        d = self.standardise(X)
        d -= self.location
        Pd = d @ self.precision
        distance = np.einsum("ij,ij->i", Pd, d)
        np.maximum(distance, 0.0, out=distance)
        np.sqrt(distance, out=distance)
        residuals = np.abs(Pd, out=Pd)
        residuals /= self._residual_scale
        feature_index = residuals.argmax(axis=1)
        residual = residuals[np.arange(len(X)), feature_index]
        score = distance / self.thresholds[0]
        np.maximum(score, residual / self.thresholds[1], out=score)
        return NoveltyScores(score=score, distance=distance, residual=residual, feature_index=feature_index)

    def _score_row(self, x: Array) -> NoveltyScores:
        """:meth:`score` of one row, in half the NumPy calls (a call costs more than one row's arithmetic);
        the same numbers up to the last bits of a sum, where the products are added in another order."""
        d = self.standardise(x) - self.location
        Pd = d @ self.precision
        residuals = np.abs(Pd) / self._residual_scale
        j = int(residuals.argmax())
        residual = float(residuals[j])
        distance = math.sqrt(max(float(Pd @ d), 0.0))
        low, high = self.thresholds.tolist()
        return NoveltyScores(
            score=np.array([max(distance / low, residual / high)]),
            distance=np.array([distance]),
            residual=np.array([residual]),
            feature_index=np.array([j], dtype=np.intp),
        )

    def to_npz(self) -> bytes:
        """The statistics as an ``.npz`` archive of plain float64 arrays (no pickles)."""
        buffer = io.BytesIO()
        np.savez(buffer, **{name: getattr(self, name) for name in ARRAYS})
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, data: bytes) -> NoveltyDetector:
        """The detector :meth:`to_npz` wrote; ``ValueError`` naming the problem if ``data`` is not one."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
            raise ValueError(f"not an archive of plain arrays: {error}") from None
        return cls.from_arrays(arrays)

    @classmethod
    def from_arrays(cls, arrays: dict[str, NDArray[Any]]) -> NoveltyDetector:
        if set(arrays) != set(ARRAYS):
            raise ValueError(f"expected the arrays {sorted(ARRAYS)}; got {sorted(arrays)}")
        values = {name: np.asarray(arrays[name]) for name in ARRAYS}
        for name, value in values.items():
            if value.dtype != np.float64 or not np.all(np.isfinite(value)):
                raise ValueError(f"{name} must hold finite float64 values")
        n = values["offset"].shape
        if len(n) != 1:
            raise ValueError("offset must be 1-D")
        for name in ("log_mean", "log_scale", "location"):
            if values[name].shape != n:
                raise ValueError(f"{name} has shape {values[name].shape}; expected {n}")
        if values["precision"].shape != n * 2:
            raise ValueError(f"precision has shape {values['precision'].shape}; expected {n * 2}")
        if values["thresholds"].shape != (2,):
            raise ValueError("thresholds must hold two values")
        if not (np.all(values["offset"] > 0) and np.all(values["log_scale"] > 0) and np.all(values["thresholds"] > 0)):
            raise ValueError("offset, log_scale and thresholds must be positive")
        if not np.all(np.diag(values["precision"]) > 0):
            raise ValueError("precision must have a positive diagonal")
        return cls(**values)
