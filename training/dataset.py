"""The Wisconsin diagnostic breast-cancer data set: loading, the train/test split, feature bounds, fingerprint."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from neuralnet.artifacts import Feature

TEST_SIZE: Final = 0.2
"""Fraction of the rows held out for the final evaluation (stratified)."""

VALID_MAX_FACTOR: Final = 3.0
"""The service accepts a feature up to this multiple of its largest training value.

Every feature is a non-negative physical measurement (lengths, areas, ratios, counts of concave points), so
the lower bound is 0. Real tumours can exceed the training maximum, so the upper bound leaves generous
headroom while still rejecting values off by orders of magnitude (wrong units, a typo, a swapped column).
"""

VALID_MIN: Final = 0.0
"""Smallest value the service accepts for any feature."""

FINGERPRINT_ENCODING: Final = "X as float64 little-endian C order, then y as int64 little-endian"


@dataclass(frozen=True, slots=True)
class Dataset:
    """Feature matrix, integer targets and the names scikit-learn gives them."""

    X: NDArray[np.float64]
    y: NDArray[np.int64]
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Split:
    """A stratified train/test split of a `Dataset`."""

    X_train: NDArray[np.float64]
    X_test: NDArray[np.float64]
    y_train: NDArray[np.int64]
    y_test: NDArray[np.int64]
    seed: int


def load_dataset() -> Dataset:
    """The 569-row data set shipped with scikit-learn (no network access): target 0 = malignant, 1 = benign."""
    bunch: Any = load_breast_cancer()
    return Dataset(
        X=np.ascontiguousarray(bunch.data, dtype=np.float64),
        y=np.asarray(bunch.target, dtype=np.int64),
        feature_names=tuple(str(name) for name in bunch.feature_names),
        target_names=tuple(str(name) for name in bunch.target_names),
    )


def split_dataset(dataset: Dataset, seed: int) -> Split:
    """Stratified split, `TEST_SIZE` held out, reproducible from ``seed``."""
    X_train, X_test, y_train, y_test = train_test_split(
        dataset.X, dataset.y, test_size=TEST_SIZE, random_state=seed, stratify=dataset.y
    )
    return Split(X_train=X_train, X_test=X_test, y_train=y_train, y_test=y_test, seed=seed)


def api_name(name: str) -> str:
    """The snake_case name the HTTP API uses: 'mean radius' -> 'mean_radius'."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def features(feature_names: tuple[str, ...], X_train: NDArray[np.float64]) -> tuple[Feature, ...]:
    """One `Feature` per column, in the data set's order, with bounds taken from the training rows only."""
    if X_train.shape[1] != len(feature_names):
        raise ValueError(f"{X_train.shape[1]} columns but {len(feature_names)} feature names")
    if (X_train < VALID_MIN).any():
        raise ValueError("the training data holds negative values; the valid range would not cover it")
    lows, highs = X_train.min(axis=0), X_train.max(axis=0)
    return tuple(
        Feature(
            name=name,
            api_name=api_name(name),
            training_min=float(low),
            training_max=float(high),
            valid_min=VALID_MIN,
            valid_max=_round(float(high) * VALID_MAX_FACTOR),
        )
        for name, low, high in zip(feature_names, lows, highs, strict=True)
    )


def _round(limit: float) -> float:
    """Four significant digits, so that messages and docs can show the limit exactly (0.912, not
    0.9119999999999999); the headroom of `VALID_MAX_FACTOR` dwarfs the difference."""
    return float(f"{limit:.4g}")


def fingerprint_bytes(X: NDArray[np.float64], y: NDArray[np.int64]) -> bytes:
    """The bytes the fingerprint hashes, in the encoding `FINGERPRINT_ENCODING` names."""
    x_bytes = np.ascontiguousarray(X, dtype="<f8").tobytes()
    y_bytes = np.ascontiguousarray(y, dtype="<i8").tobytes()
    return x_bytes + y_bytes


def training_fingerprint(split: Split) -> dict[str, Any]:
    """The manifest's ``training_data``: which rows the model was fitted on, and how to recompute the hash."""
    return {
        "source": "sklearn.datasets.load_breast_cancer",
        "sha256": hashlib.sha256(fingerprint_bytes(split.X_train, split.y_train)).hexdigest(),
        "encoding": FINGERPRINT_ENCODING,
        "n_rows": int(split.X_train.shape[0]),
        "n_features": int(split.X_train.shape[1]),
        "n_test_rows": int(split.X_test.shape[0]),
        "test_size": TEST_SIZE,
        "split_seed": split.seed,
        "stratified": True,
    }
