"""The decision threshold: chosen for a target sensitivity from out-of-fold predictions on the training rows only.

A missed malignancy costs far more than a false alarm, so the threshold is the *highest* one (fewest false
alarms) at which the out-of-fold predictions reach the target sensitivity. What that rule gives on rows it
was not chosen on is measured by nested cross-validation on the training rows: in each outer fold, the rule
picks a threshold from an inner cross-validation of the outer fold's training rows, and that threshold is
applied to the outer fold's test rows. The held-out rows take no part in any of it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, logit
from scipy.stats import norm
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from training import evaluation

logger = logging.getLogger(__name__)

DEFAULT_TARGET_SENSITIVITY: Final = 0.98
"""At 0.5 the shipped model misses about 3 % of malignant tumours under cross-validation; 0.98 halves that for
some 3 points of specificity. 0.99 is not reachable reliably: the training rows hold ~170 malignant tumours, so
the 99th percentile rests on one or two of them, and on folds it was not chosen on it gave 0.98 at 0.90
specificity (see the README's table)."""
FIXED_THRESHOLD: Final = 0.5
"""The threshold when cross-validation is skipped, and the comparison point otherwise."""
N_SPLITS: Final = 5
MAX_REPEATS: Final = 2
"""Repeats of the nested cross-validation: 30 fits each (5 outer, 25 inner), run in this process."""
CONFIDENCE: Final = 0.95
RANDOM_STATE: Final = 0


@dataclass(frozen=True, slots=True)
class Rate:
    """A proportion with its Wilson score interval."""

    value: float
    low: float
    high: float
    n: int

    def as_json(self) -> dict[str, Any]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high, "n": self.n}


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """Sensitivity (for the positive class) and specificity of one decision rule."""

    sensitivity: Rate
    specificity: Rate

    def as_json(self) -> dict[str, Any]:
        return {"sensitivity": self.sensitivity.as_json(), "specificity": self.specificity.as_json()}


@dataclass(frozen=True, slots=True)
class ThresholdSelection:
    """The chosen threshold, how it was chosen, and what it gives on rows it was not chosen on."""

    method: str
    threshold: float
    target_sensitivity: float | None
    chosen: OperatingPoint | None
    nested: OperatingPoint | None
    at_fixed: OperatingPoint | None
    fold_thresholds: list[float]
    protocol: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "threshold": self.threshold,
            "target_sensitivity": self.target_sensitivity,
            "out_of_fold": None if self.chosen is None else self.chosen.as_json(),
            "nested_cv": None if self.nested is None else self.nested.as_json(),
            f"nested_cv_at_{FIXED_THRESHOLD}": None if self.at_fixed is None else self.at_fixed.as_json(),
            "fold_thresholds": [round(t, 6) for t in self.fold_thresholds],
            "protocol": self.protocol,
        }


def fixed(reason: str) -> ThresholdSelection:
    """:data:`FIXED_THRESHOLD`, not tuned (``reason`` says why)."""
    return ThresholdSelection(f"fixed at {FIXED_THRESHOLD}: {reason}", FIXED_THRESHOLD, None, None, None, None, [], {})


def threshold_for_sensitivity(p_positive: NDArray[np.float64], y_positive: NDArray[np.bool_], target: float) -> float:
    """The highest threshold at which at least ``target`` of the positive rows have ``p >= threshold``.

    It lies halfway, in log-odds, between the last positive row it must catch and the next lower
    prediction of any row, so that it does not sit on a training row's own score.
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"the target sensitivity must be between 0 and 1, got {target}")
    positives = np.sort(p_positive[y_positive])[::-1]
    if positives.size == 0:
        raise ValueError("no positive rows to choose a threshold from")
    needed = max(1, math.ceil(target * positives.size - 1e-9))
    cut = float(positives[needed - 1])
    below = p_positive[p_positive < cut]
    if below.size == 0:
        return cut
    return float(expit((logit(cut) + logit(float(below.max()))) / 2))


def wilson(successes: float, n: int, confidence: float = CONFIDENCE) -> Rate:
    """``successes / n`` with its Wilson score interval (``successes`` may be a mean over repeats)."""
    if n == 0:
        return Rate(float("nan"), 0.0, 1.0, 0)
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Rate(p, max(0.0, centre - half), min(1.0, centre + half), n)


def operating_point(
    predicted_positive: NDArray[np.bool_], y_positive: NDArray[np.bool_], n_repeats: int = 1
) -> OperatingPoint:
    """Sensitivity and specificity of decisions pooled over ``n_repeats`` passes over the same rows.

    The intervals count each row once (the successes are averaged over the repeats): repeats steady the
    estimate against the fold assignment, but they add no new tumours.
    """
    positives = int(y_positive.sum()) // n_repeats
    negatives = int((~y_positive).sum()) // n_repeats
    caught = float((predicted_positive & y_positive).sum()) / n_repeats
    cleared = float((~predicted_positive & ~y_positive).sum()) / n_repeats
    return OperatingPoint(wilson(caught, positives), wilson(cleared, negatives))


def select_threshold(
    make_estimator: Callable[[], Any],
    X: NDArray[np.float64],
    y: NDArray[np.int64],
    *,
    positive_label: int,
    target: float,
    n_repeats: int,
) -> ThresholdSelection:
    """Choose the threshold for ``target`` sensitivity on the training rows ``X, y``, and measure it by nested CV.

    The threshold shipped is the rule applied to the outer folds' out-of-fold predictions (every training
    row once per repeat); ``nested`` is the rule's sensitivity and specificity on outer test rows, each
    fold's threshold having been chosen by the inner folds of that fold's training rows.
    """
    started = time.perf_counter()
    y_positive = y == positive_label
    outer_p = np.empty((n_repeats, len(y)))
    nested_decisions = np.empty((n_repeats, len(y)), dtype=bool)
    fold_thresholds: list[float] = []
    for repeat in range(n_repeats):
        outer = list(StratifiedKFold(N_SPLITS, shuffle=True, random_state=RANDOM_STATE + repeat).split(X, y))
        tasks: list[tuple[NDArray[np.intp], NDArray[np.intp]]] = []
        for train, test in outer:
            tasks.append((train, test))
            inner = StratifiedKFold(N_SPLITS, shuffle=True, random_state=RANDOM_STATE + repeat)
            tasks += [(train[fit], train[score]) for fit, score in inner.split(X[train], y[train])]
        predictions = _out_of_fold(make_estimator, X, y, tasks, positive_label)
        for k, (_, test) in enumerate(outer):
            first = k * (N_SPLITS + 1)
            outer_p[repeat, test] = predictions[first]
            inner_rows = np.concatenate([tasks[first + 1 + j][1] for j in range(N_SPLITS)])
            inner_p = np.concatenate(predictions[first + 1 : first + 1 + N_SPLITS])
            fold_threshold = threshold_for_sensitivity(inner_p, y_positive[inner_rows], target)
            fold_thresholds.append(fold_threshold)
            nested_decisions[repeat, test] = predictions[first] >= fold_threshold
    threshold = threshold_for_sensitivity(outer_p.ravel(), np.tile(y_positive, n_repeats), target)
    all_positive = np.tile(y_positive, n_repeats)
    logger.info(
        "threshold %.4f for sensitivity %.2f, nested cross-validation in %.1f s",
        threshold,
        target,
        time.perf_counter() - started,
    )
    return ThresholdSelection(
        method="highest threshold reaching the target sensitivity on out-of-fold predictions of the training rows",
        threshold=threshold,
        target_sensitivity=target,
        chosen=operating_point(outer_p.ravel() >= threshold, all_positive, n_repeats),
        nested=operating_point(nested_decisions.ravel(), all_positive, n_repeats),
        at_fixed=operating_point(outer_p.ravel() >= FIXED_THRESHOLD, all_positive, n_repeats),
        fold_thresholds=fold_thresholds,
        protocol={
            "rows": "training rows only (the held-out rows take no part)",
            "n_rows": len(y),
            "outer": f"StratifiedKFold(n_splits={N_SPLITS}, shuffle=True, random_state={RANDOM_STATE}+repeat)",
            "inner": f"StratifiedKFold(n_splits={N_SPLITS}, shuffle=True) on each outer fold's training rows",
            "n_repeats": n_repeats,
            "scaler": "StandardScaler fitted on each fit's training rows",
            "interval": f"Wilson score, {CONFIDENCE:.0%}, counting each row once",
        },
    )


def _out_of_fold(
    make_estimator: Callable[[], Any],
    X: NDArray[np.float64],
    y: NDArray[np.int64],
    tasks: list[tuple[NDArray[np.intp], NDArray[np.intp]]],
    positive_label: int,
) -> list[NDArray[np.float64]]:
    """P(positive) of each task's test rows from a model fitted on its training rows (networks fitted as stacks)."""
    estimators = [make_estimator() for _ in tasks]
    with threadpool_limits(limits=1):  # the cross-validation's workers have the cores
        scalers = evaluation.fit_folds(estimators, X, y, tasks)
        return [
            evaluation.positive_probability(estimator, scaler.transform(X[test]), positive_label)
            for estimator, scaler, (_, test) in zip(estimators, scalers, tasks, strict=True)
        ]
