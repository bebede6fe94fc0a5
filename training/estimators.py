"""The estimators training works with: the network presets, the peers they are compared against, their params."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from neuralnet import PRESET_NAMES, make_preset

BASELINE_PRESET: Final = "seed"
"""The tutorial's network, always one of the peers."""

PEER_RANDOM_STATE: Final = 0
"""Fixed random state of the scikit-learn peers, so that their figures do not move with --seed."""


def preset_names() -> tuple[str, ...]:
    return tuple(PRESET_NAMES)


def build_preset(name: str, random_state: int) -> Any:
    """An unfitted classifier from the core package's presets."""
    if name not in PRESET_NAMES:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}")
    return make_preset(name, random_state=random_state)


def peers(preset: str) -> dict[str, Callable[[], Any]]:
    """Factories of the models the chosen preset is compared against, on the same folds."""
    factories: dict[str, Callable[[], Any]] = {}
    if preset != BASELINE_PRESET:
        factories[BASELINE_PRESET] = lambda: build_preset(BASELINE_PRESET, PEER_RANDOM_STATE)
    factories["LogisticRegression"] = LogisticRegression
    factories["MLPClassifier"] = lambda: MLPClassifier(random_state=PEER_RANDOM_STATE)
    return factories


def class_path(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def json_safe_params(estimator: Any) -> dict[str, Any]:
    """``{"class": ..., "params": ...}`` from ``get_params(deep=False)``, nested estimators expanded alike."""
    params = estimator.get_params(deep=False)
    return {"class": class_path(estimator), "params": {key: _json_safe(params[key]) for key in sorted(params)}}


def _json_safe(value: Any) -> Any:
    if isinstance(value, BaseEstimator):
        return json_safe_params(value)
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, int | float):
        return value
    if isinstance(value, np.ndarray):
        return [_json_safe(item) for item in value.tolist()]
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.random.RandomState):
        return "RandomState instance"
    try:
        json.dumps(value)
    except TypeError:
        return repr(value)
    return value
