"""Expected calibration error and reliability curves."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from training import calibration


def test_the_curve_matches_scikit_learns() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(2000)
    y = rng.random(2000) < p**2
    curve = calibration.reliability_curve(p, y)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    np.testing.assert_allclose(curve.observed, observed)
    np.testing.assert_allclose(curve.predicted, predicted)
    assert curve.counts.sum() == 2000


def test_a_calibrated_model_has_a_small_error_and_an_overconfident_one_a_large_one() -> None:
    rng = np.random.default_rng(1)
    p = rng.random(20000)
    y = rng.random(20000) < p
    assert calibration.expected_calibration_error(p, y) < 0.02
    constant = np.full(1000, 0.9)
    half = np.arange(1000) % 2 == 0
    assert calibration.expected_calibration_error(constant, half) == pytest.approx(0.4)


def test_cross_validated_pools_each_repeat() -> None:
    y = np.array([True, False, True, False])
    folds = [
        (np.array([0, 1]), np.array([1.0, 0.0])),
        (np.array([2, 3]), np.array([1.0, 0.0])),  # repeat 1: perfect
        (np.array([0, 2]), np.array([0.5, 0.5])),
        (np.array([1, 3]), np.array([0.5, 0.5])),  # repeat 2: 0.5 for everyone, half of them positive
    ]
    result = calibration.cross_validated(folds, y, n_splits=2)
    np.testing.assert_allclose(result.ece, [0.0, 0.0])
    np.testing.assert_allclose(result.brier, [0.0, 0.25])
    assert result.as_json()["ece"]["mean"] == 0.0
