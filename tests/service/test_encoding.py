"""The response encoder writes exactly what ``orjson.dumps`` of the documented objects would."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pytest

from neuralnet.artifacts import Manifest
from neuralnet.novelty import NoveltyScores
from service.dataplane import Inference
from service.protocols.predict import PredictionEncoder


def reference(manifest: Manifest, prediction: Inference, *, batch: bool) -> bytes:
    items: list[dict[str, Any]] = [
        {
            "label": manifest.classes[label],
            "probability_" + manifest.positive_class: row[manifest.positive_class_index],
            "probabilities": dict(zip(manifest.classes, row, strict=True)),
        }
        for label, row in zip(prediction.label_indices.tolist(), prediction.probabilities.tolist(), strict=True)
    ]
    if prediction.novelty is not None:
        novelty = prediction.novelty
        for index, item in enumerate(items):
            item["out_of_distribution"] = {
                "score": float(novelty.score[index]),
                "flagged": bool(novelty.flagged[index]),
                "feature": manifest.features[int(novelty.feature_index[index])].api_name,
            }
    for name, values in prediction.extras.items():
        for item, value in zip(items, values, strict=True):
            item[name] = value
    option = orjson.OPT_SERIALIZE_NUMPY
    if batch:
        return orjson.dumps({"predictions": items, "model_version": manifest.model_version}, option=option)
    return orjson.dumps({**items[0], "model_version": manifest.model_version}, option=option)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("batch", [False, True])
def test_the_encoder_matches_plain_orjson(manifest: Manifest, n_classes: int, batch: bool) -> None:
    classes = ("malignant", "benign", 'odd "name"')[:n_classes]
    model = manifest.model_copy(update={"classes": classes, "model_version": 'v"1\\'})
    generator = np.random.default_rng(0)
    probabilities = generator.dirichlet(np.ones(n_classes), size=7)
    probabilities[0] = [1.0, *([0.0] * (n_classes - 1))]
    probabilities[1, 0] = 1e-300
    probabilities[1, 1:] = (1 - 1e-300) / (n_classes - 1)
    labels = generator.integers(0, n_classes, size=7).astype(np.intp)
    prediction = Inference("wdbc", model.model_version, model.classes, probabilities, labels)
    encoded = PredictionEncoder(model).encode(prediction, batch=batch)
    assert encoded == reference(model, prediction, batch=batch)
    json.loads(encoded)  # valid JSON for the standard library too


@pytest.mark.parametrize("n_rows", [1, 9])
@pytest.mark.parametrize("batch", [False, True])
def test_the_encoder_matches_plain_orjson_with_novelty_and_extra_outputs(
    manifest: Manifest, n_rows: int, batch: bool
) -> None:
    generator = np.random.default_rng(1)
    probabilities = generator.dirichlet(np.ones(2), size=n_rows)
    labels = generator.integers(0, 2, size=n_rows).astype(np.intp)
    score = generator.uniform(0, 3, size=n_rows)
    novelty = NoveltyScores(
        score=score,
        distance=score,
        residual=score,
        feature_index=generator.integers(0, len(manifest.features), size=n_rows).astype(np.intp),
    )
    extras = {"in_range": generator.integers(0, 2, size=n_rows).astype(bool), "rank": np.arange(n_rows)}
    prediction = Inference(
        "wdbc", manifest.model_version, manifest.classes, probabilities, labels, novelty=novelty, extras=extras
    )
    encoded = PredictionEncoder(manifest).encode(prediction, batch=batch)
    assert encoded == reference(manifest, prediction, batch=batch)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("with_novelty", [False, True])
def test_one_record_is_encoded_as_plain_orjson_would(
    manifest: Manifest, n_classes: int, batch: bool, with_novelty: bool
) -> None:
    """One row takes a shorter path than a batch: the same bytes, for every label, flag and feature."""
    classes = ("malignant", "benign", 'odd "name"')[:n_classes]
    model = manifest.model_copy(update={"classes": classes})
    generator = np.random.default_rng(2)
    encoder = PredictionEncoder(model)
    for index in range(60):
        probabilities = generator.dirichlet(np.ones(n_classes), size=1)
        if index == 0:
            probabilities[0] = [1e-300, *([(1 - 1e-300) / (n_classes - 1)] * (n_classes - 1))]
        score = np.array([[0.5, 1.0, 1.5, 1e-7, 12345.678][index % 5]])
        novelty = NoveltyScores(
            score=score,
            distance=score,
            residual=score,
            feature_index=np.array([index % len(manifest.features)], dtype=np.intp),
        )
        prediction = Inference(
            "wdbc",
            model.model_version,
            model.classes,
            probabilities,
            np.array([index % n_classes], dtype=np.intp),
            novelty=novelty if with_novelty else None,
        )
        assert encoder.encode(prediction, batch=batch) == reference(model, prediction, batch=batch)
