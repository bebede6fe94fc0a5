"""The decision threshold: the rule that picks it, its intervals, and the nested cross-validation that measures it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.linear_model import LogisticRegression

from training import dataset, evaluation, threshold


def _sensitivity(p: np.ndarray, y: np.ndarray, t: float) -> float:
    return float(np.mean(p[y] >= t))


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("target", [0.8, 0.95, 0.98])
def test_the_threshold_is_the_highest_that_reaches_the_target(seed: int, target: float) -> None:
    rng = np.random.default_rng(seed)
    y = rng.random(200) < 0.4
    p = np.clip(rng.normal(np.where(y, 0.7, 0.3), 0.2), 0.001, 0.999)
    t = threshold.threshold_for_sensitivity(p, y, target)
    assert 0.0 < t < 1.0
    assert _sensitivity(p, y, t) >= target
    lowest_caught = float(p[y][p[y] >= t].min())
    assert _sensitivity(p, y, float(np.nextafter(lowest_caught, 1.0))) < target  # any higher one misses it
    assert not np.any(p == t)  # between two rows' scores, not on one


def test_the_threshold_lies_halfway_in_log_odds_to_the_next_row() -> None:
    p = np.array([0.9, 0.8, 0.5, 0.2, 0.7, 0.1])
    y = np.array([True, True, True, True, False, False])
    # 3 of 4 positives are needed: the cut is 0.5; the next lower score is 0.2
    t = threshold.threshold_for_sensitivity(p, y, 0.75)
    assert t == pytest.approx(1 / (1 + np.sqrt(4 * 1)))  # expit of the mean of logit(0.5) = 0 and logit(0.2)
    assert threshold.threshold_for_sensitivity(p, y, 1.0 - 1e-9) < 0.2


@pytest.mark.parametrize("target", [0.0, 1.0, -0.1, 1.5])
def test_an_impossible_target_is_refused(target: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        threshold.threshold_for_sensitivity(np.array([0.5]), np.array([True]), target)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (167, 170), (170, 170), (1, 1)])
def test_wilson_interval_matches_scipy(k: int, n: int) -> None:
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    rate = threshold.wilson(k, n)
    assert rate.value == k / n
    assert rate.low == pytest.approx(expected.low, abs=1e-12)
    assert rate.high == pytest.approx(expected.high, abs=1e-12)


def test_repeats_average_the_counts_but_not_the_number_of_tumours() -> None:
    y = np.tile(np.array([True] * 10 + [False] * 10), 2)
    decided = np.concatenate([y[:20], ~y[:20]])  # all right in the first repeat, all wrong in the second
    point = threshold.operating_point(decided, y, n_repeats=2)
    assert point.sensitivity.n == 10
    assert point.sensitivity.value == 0.5
    assert point.specificity.value == 0.5


def test_nested_selection_uses_only_the_rows_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    data = dataset.load_dataset()
    split = dataset.split_dataset(data, 0)
    seen: list[np.ndarray] = []
    original = evaluation.fit_folds

    def spy(estimators: list[Any], X: np.ndarray, y: np.ndarray, folds: Any) -> Any:
        for train, test in folds:
            seen.extend([X[train], X[test]])
        return original(estimators, X, y, folds)

    monkeypatch.setattr(evaluation, "fit_folds", spy)
    selection = threshold.select_threshold(
        LogisticRegression, split.X_train, split.y_train, positive_label=0, target=0.95, n_repeats=1
    )
    assert len(seen) == 2 * 30  # 5 outer fits and 25 inner ones
    held_out = {row.tobytes() for row in split.X_test}
    training = {row.tobytes() for row in split.X_train}
    rows = {row.tobytes() for block in seen for row in block}
    assert rows <= training
    assert not rows & held_out
    assert selection.nested is not None
    assert selection.chosen is not None
    assert selection.chosen.sensitivity.value >= 0.95  # where it was chosen, it holds by construction
    assert selection.nested.sensitivity.n == int((split.y_train == 0).sum())
    assert len(selection.fold_thresholds) == 5
    assert selection.as_json()["target_sensitivity"] == 0.95


def test_without_cross_validation_the_threshold_stays_at_one_half() -> None:
    selection = threshold.fixed("cross-validation skipped")
    assert selection.threshold == 0.5
    assert selection.as_json()["nested_cv"] is None
