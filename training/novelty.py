"""Fitting the out-of-distribution detector (:mod:`neuralnet.novelty`) and measuring it on held-out and shifted rows.

The method was chosen by measurement on this data set (README, "Out-of-distribution flag"): a Mahalanobis distance on
the standardised features, or a check against the training range, flags fewer than two thirds of records with
one feature tripled; on log features with the empirical covariance (shrinkage weakens the tight correlations
between size features that give single-feature errors away), adding the conditional residuals reaches 95 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from sklearn.covariance import EmpiricalCovariance
from sklearn.model_selection import KFold

from neuralnet.artifacts import Feature
from neuralnet.novelty import NoveltyDetector
from training.threshold import wilson

QUANTILE: Final = 0.99
"""Each statistic's threshold: this quantile of the out-of-fold training rows (1 % expected false alarms)."""
N_SPLITS: Final = 5
RANDOM_STATE: Final = 0
FALSE_ALARM_GOAL: Final = 0.02
DETECTION_GOAL: Final = 0.95
SHIFT_FACTOR: Final = 3.0

Matrix = NDArray[np.float64]


def fit_detector(X_train: Matrix) -> NoveltyDetector:
    """Statistics of all training rows, with thresholds from out-of-fold scores (a row's own statistics would
    make it look more typical than a new record)."""
    folds = KFold(N_SPLITS, shuffle=True, random_state=RANDOM_STATE).split(X_train)
    out_of_fold = []
    for fit_rows, score_rows in folds:
        scores = _statistics(X_train[fit_rows], np.ones(2)).score(X_train[score_rows])
        out_of_fold.append(np.column_stack([scores.distance, scores.residual]))
    thresholds = np.quantile(np.vstack(out_of_fold), QUANTILE, axis=0)
    return _statistics(X_train, thresholds)


def _statistics(X: Matrix, thresholds: Matrix) -> NoveltyDetector:
    positive = np.where(X > 0, X, np.inf).min(axis=0)
    offset = np.where(np.isfinite(positive), positive / 2, 1.0)
    logs = np.log(X + offset)
    log_mean, log_scale = logs.mean(axis=0), logs.std(axis=0)
    log_scale = np.where(log_scale > 0, log_scale, 1.0)
    covariance = EmpiricalCovariance().fit((logs - log_mean) / log_scale)
    return NoveltyDetector(
        offset=offset,
        log_mean=log_mean,
        log_scale=log_scale,
        location=np.asarray(covariance.location_, dtype=np.float64),
        precision=np.asarray(covariance.precision_, dtype=np.float64),
        thresholds=np.asarray(thresholds, dtype=np.float64),
    )


def shifted_records(X: Matrix, features: Sequence[Feature], rng: np.random.Generator) -> dict[str, Matrix]:
    """Records that pass validation (every value within its feature's valid range) yet should be flagged, by family.

    - one feature x3: each row of ``X`` with each of its non-zero features tripled in turn, where still valid;
    - units swapped: the size features (radius, perimeter, area, their errors and worst values) in a unit ten
      times larger or smaller (lengths x0.1 or x10, areas x0.01 or x100), where still valid;
    - another distribution: each feature shuffled independently across the rows of ``X`` (every value
      realistic, the combinations not), and 500 rows drawn uniformly within the training range.
    """
    valid_max = np.array([feature.valid_max for feature in features])
    lengths = [i for i, feature in enumerate(features) if "radius" in feature.name or "perimeter" in feature.name]
    areas = [i for i, feature in enumerate(features) if "area" in feature.name]
    rows, columns = np.nonzero((X > 0) & (valid_max >= X * SHIFT_FACTOR))
    tripled = X[rows].copy()
    tripled[np.arange(len(rows)), columns] *= SHIFT_FACTOR
    units = []
    for factor in (0.1, 10.0):
        scaled = X.copy()
        scaled[:, lengths] *= factor
        scaled[:, areas] *= factor * factor
        units.append(scaled[(scaled <= valid_max).all(axis=1)])
    low = np.array([feature.training_min for feature in features])
    high = np.array([feature.training_max for feature in features])
    return {
        "one feature x3": tripled,
        "units swapped": np.vstack(units),
        "features shuffled across rows": np.column_stack([rng.permutation(column) for column in X.T]),
        "uniform within the training range": rng.uniform(low, high, size=(500, X.shape[1])),
    }


def measure(detector: NoveltyDetector, X_heldout: Matrix, features: Sequence[Feature], seed: int = 0) -> dict[str, Any]:
    """False alarms on the held-out rows and detection of each family of :func:`shifted_records` made from them."""
    flagged = detector.score(X_heldout).flagged
    families = shifted_records(X_heldout, features, np.random.default_rng(seed))
    return {
        "method": "max(Mahalanobis distance, largest conditional residual) on standardised log features, each "
        f"over its {QUANTILE:.0%} quantile on out-of-fold training rows",
        "false_alarms": {**wilson(float(flagged.sum()), len(flagged)).as_json(), "goal": FALSE_ALARM_GOAL},
        "detection": {
            name: {**wilson(float(detector.score(X).flagged.sum()), len(X)).as_json(), "goal": DETECTION_GOAL}
            for name, X in families.items()
        },
    }
