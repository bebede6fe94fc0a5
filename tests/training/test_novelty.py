"""The out-of-distribution flag on data the tests generate: false alarms on held-out rows, detection of shifted ones."""

from __future__ import annotations

import numpy as np
import pytest

from neuralnet.novelty import NoveltyDetector
from training import dataset, novelty

Measured = list[tuple[NoveltyDetector, dataset.Split, dict[str, np.ndarray]]]
SEEDS = range(5)  # five train/held-out splits: 570 held-out rows in all, enough to read a rate of 2 %


@pytest.fixture(scope="module")
def measured() -> Measured:
    data = dataset.load_dataset()
    results = []
    for seed in SEEDS:
        split = dataset.split_dataset(data, seed)
        features = dataset.features(data.feature_names, split.X_train)
        families = novelty.shifted_records(split.X_test, features, np.random.default_rng(seed))
        results.append((novelty.fit_detector(split.X_train), split, families))
    return results


def test_false_alarms_on_held_out_rows_stay_within_two_percent(measured: Measured) -> None:
    flagged = np.concatenate([detector.score(split.X_test).flagged for detector, split, _ in measured])
    assert flagged.size == 570
    assert flagged.mean() <= novelty.FALSE_ALARM_GOAL


@pytest.mark.parametrize(
    "family",
    ["one feature x3", "units swapped", "features shuffled across rows", "uniform within the training range"],
)
def test_shifted_records_are_flagged_at_least_95_percent_of_the_time(measured: Measured, family: str) -> None:
    flagged = np.concatenate([detector.score(families[family]).flagged for detector, _, families in measured])
    assert flagged.size >= 500
    assert flagged.mean() >= novelty.DETECTION_GOAL


def test_shifted_records_are_valid_inputs_that_differ_from_the_originals(measured: Measured) -> None:
    data = dataset.load_dataset()
    _, split, families = measured[0]
    features = dataset.features(data.feature_names, split.X_train)
    valid_max = np.array([f.valid_max for f in features])
    for name, X in families.items():
        assert np.all((X >= 0) & (valid_max >= X)), name
    tripled = families["one feature x3"]
    changed = (tripled != split.X_test[:, None, :]).sum(axis=2)  # against every held-out row
    assert np.all(changed.min(axis=1) == 1)  # each is a held-out row with exactly one feature changed


def test_the_feature_named_is_usually_the_one_that_was_changed(measured: Measured) -> None:
    detector, split, _ = measured[0]
    hits = []
    for j in (0, 1, 4, 20):  # mean radius, mean texture, mean smoothness, worst radius
        shifted = split.X_test.copy()
        shifted[:, j] *= 3
        hits.append(detector.score(shifted).feature_index == j)
    assert np.mean(hits) >= 0.8


def test_the_distance_alone_falls_short(measured: Measured) -> None:
    """Why the method has two statistics: the distance alone misses a third of single-feature errors."""
    ratios = [detector.score(families["one feature x3"]) for detector, _, families in measured]
    distance_only = np.concatenate(
        [r.distance / d.thresholds[0] > 1 for r, (d, _, _) in zip(ratios, measured, strict=True)]
    )
    assert distance_only.mean() < 0.9


def test_measure_reports_every_family_with_intervals() -> None:
    data = dataset.load_dataset()
    split = dataset.split_dataset(data, 0)
    features = dataset.features(data.feature_names, split.X_train)
    report = novelty.measure(novelty.fit_detector(split.X_train), split.X_test, features)
    assert report["false_alarms"]["n"] == len(split.X_test)
    assert set(report["detection"]) == {
        "one feature x3",
        "units swapped",
        "features shuffled across rows",
        "uniform within the training range",
    }
    for figures in report["detection"].values():
        assert figures["ci_low"] <= figures["value"] <= figures["ci_high"]
