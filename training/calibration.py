"""How far predicted probabilities are from observed frequencies: expected calibration error and reliability curves.

Both are computed from cross-validation's out-of-fold predictions, pooled over the folds of one repeat (each
row predicted once, by a model that did not see it); a single fold's ~114 rows are too few for ten bins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import brier_score_loss

N_BINS: Final = 10
"""Equal-width probability bins, the usual choice for the expected calibration error."""


@dataclass(frozen=True, slots=True)
class ReliabilityCurve:
    """Per non-empty bin: the mean predicted probability, the observed frequency of the class, and the count."""

    predicted: NDArray[np.float64]
    observed: NDArray[np.float64]
    counts: NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Calibration:
    """One model's calibration under cross-validation: ECE and Brier per repeat, and the pooled curve."""

    ece: NDArray[np.float64]
    brier: NDArray[np.float64]
    curve: ReliabilityCurve

    def as_json(self) -> dict[str, Any]:
        return {
            "ece": {"mean": float(self.ece.mean()), "std": float(self.ece.std())},
            "brier_score": {"mean": float(self.brier.mean()), "std": float(self.brier.std())},
            "n_bins": N_BINS,
            "binning": "equal-width",
            "reliability": {
                "predicted": [round(float(v), 6) for v in self.curve.predicted],
                "observed": [round(float(v), 6) for v in self.curve.observed],
                "counts": [int(v) for v in self.curve.counts],
            },
        }


def reliability_curve(
    p_positive: NDArray[np.float64], y_positive: NDArray[np.bool_], n_bins: int = N_BINS
) -> ReliabilityCurve:
    """Mean prediction and observed frequency in each of ``n_bins`` equal-width bins of [0, 1] (empty bins left out)."""
    bins = np.minimum((p_positive * n_bins).astype(np.intp), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    predicted = np.bincount(bins, weights=p_positive, minlength=n_bins)
    observed = np.bincount(bins, weights=y_positive.astype(np.float64), minlength=n_bins)
    filled = counts > 0
    return ReliabilityCurve(
        predicted=predicted[filled] / counts[filled],
        observed=observed[filled] / counts[filled],
        counts=counts[filled].astype(np.int64),
    )


def expected_calibration_error(
    p_positive: NDArray[np.float64], y_positive: NDArray[np.bool_], n_bins: int = N_BINS
) -> float:
    """Count-weighted mean of |observed frequency - mean prediction| over the bins (0 is perfect calibration)."""
    curve = reliability_curve(p_positive, y_positive, n_bins)
    return float(np.sum(curve.counts * np.abs(curve.observed - curve.predicted)) / curve.counts.sum())


def cross_validated(
    out_of_fold: Sequence[tuple[NDArray[np.intp], NDArray[np.float64]]],
    y_positive: NDArray[np.bool_],
    n_splits: int,
) -> Calibration:
    """Calibration from the out-of-fold predictions of ``len(out_of_fold) // n_splits`` repeats of ``n_splits`` folds.

    Folds come in the splitter's order, so each consecutive run of ``n_splits`` covers every row once.
    """
    eces, briers, pooled_p, pooled_y = [], [], [], []
    for start in range(0, len(out_of_fold), n_splits):
        rows = np.concatenate([test for test, _ in out_of_fold[start : start + n_splits]])
        p = np.concatenate([p for _, p in out_of_fold[start : start + n_splits]])
        eces.append(expected_calibration_error(p, y_positive[rows]))
        briers.append(float(brier_score_loss(y_positive[rows], p)))
        pooled_p.append(p)
        pooled_y.append(y_positive[rows])
    return Calibration(
        ece=np.array(eces),
        brier=np.array(briers),
        curve=reliability_curve(np.concatenate(pooled_p), np.concatenate(pooled_y)),
    )
