"""The response encoder writes exactly what ``orjson.dumps`` of the documented objects would."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest

from neuralnet.artifacts import Manifest
from service.dataplane import Inference
from service.protocols.predict import PredictionEncoder


def reference(manifest: Manifest, prediction: Inference, *, batch: bool) -> bytes:
    items = [
        {
            "label": manifest.classes[label],
            "probability_" + manifest.positive_class: row[manifest.positive_class_index],
            "probabilities": dict(zip(manifest.classes, row, strict=True)),
        }
        for label, row in zip(prediction.label_indices.tolist(), prediction.probabilities.tolist(), strict=True)
    ]
    if batch:
        return orjson.dumps({"predictions": items, "model_version": manifest.model_version})
    return orjson.dumps({**items[0], "model_version": manifest.model_version})


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
