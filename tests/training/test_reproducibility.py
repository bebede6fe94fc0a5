"""Same seed, same weights and figures; another seed, another model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from neuralnet.artifacts import MODEL_FILE, SCALER_FILE, LoadedModel, Manifest, load_model_dir
from training.pipeline import train_model_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Manifest, LoadedModel]]:
    root = tmp_path_factory.mktemp("repro")
    out = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        manifest = train_model_dir(root / name, random_state=seed)
        out[name] = (manifest, load_model_dir(root / name))
    return out


def _arrays(model: Any) -> list[np.ndarray]:
    """Every learned array of a fitted estimator (attributes ending in '_'), ensemble members included."""
    found: list[np.ndarray] = []
    for key in sorted(vars(model)):
        value = vars(model)[key]
        if not key.endswith("_") or key.startswith("_"):
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            found.append(value)
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, np.ndarray) and item.dtype.kind == "f":
                    found.append(item)
                elif hasattr(item, "get_params"):
                    found.extend(_arrays(item))
    return found


def test_same_seed_gives_identical_weights_predictions_and_metrics(
    runs: dict[str, tuple[Manifest, LoadedModel]],
) -> None:
    (first, model_a), (second, model_b) = runs["a"], runs["b"]
    weights_a, weights_b = _arrays(model_a.model), _arrays(model_b.model)
    assert weights_a, "found no learned arrays to compare"
    assert len(weights_a) == len(weights_b)
    assert all(np.array_equal(wa, wb) for wa, wb in zip(weights_a, weights_b, strict=True))
    X = load_breast_cancer().data
    assert np.array_equal(
        model_a.model.predict_proba(model_a.scaler.transform(X)),
        model_b.model.predict_proba(model_b.scaler.transform(X)),
    )
    for served in (SCALER_FILE, MODEL_FILE):  # what the service reads, byte for byte
        assert first.artifacts[served] == second.artifacts[served]
    assert first.metrics == second.metrics
    assert first.training_data == second.training_data
    assert first.hyperparameters == second.hyperparameters


def test_another_seed_gives_another_split_and_model(runs: dict[str, tuple[Manifest, LoadedModel]]) -> None:
    (first, model_a), (other, model_c) = runs["a"], runs["c"]
    assert other.training_data["sha256"] != first.training_data["sha256"]
    assert other.training_data["split_seed"] == 1
    assert other.hyperparameters["params"]["random_state"] == 1
    X = load_breast_cancer().data
    assert not np.array_equal(
        model_a.model.predict_proba(model_a.scaler.transform(X)),
        model_c.model.predict_proba(model_c.scaler.transform(X)),
    )
    assert not np.array_equal(model_a.scaler.mean_, model_c.scaler.mean_)
