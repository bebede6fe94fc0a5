"""An explanation as a client reads it: attributions by feature name, the largest first, and their baseline.

Built from the core's integrated gradients (``neuralnet.attribution``) only when a request asks for it.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from neuralnet.artifacts import Manifest
from service.dataplane import Explanation
from service.protocols.schemas import probability_key

TOP_FEATURES: Final = 5
"""Features an explanation lists first, by the size of their attribution."""
METHOD: Final = "integrated_gradients"
BASELINE: Final = "the training mean of every feature"


class ExplanationEncoder:
    """Per-row explanation objects for one model's features and classes."""

    def __init__(self, manifest: Manifest) -> None:
        self._names = [feature.api_name for feature in manifest.features]
        self._output = probability_key(manifest.positive_class)
        self._towards = manifest.positive_class
        others = [name for name in manifest.classes if name != manifest.positive_class]
        self._away = others[0] if len(others) == 1 else f"not {manifest.positive_class}"

    def objects(self, explanation: Explanation) -> list[dict[str, Any]]:
        attributions = explanation.attributions
        ranked = np.argsort(-np.abs(attributions.values), axis=1, kind="stable")[:, :TOP_FEATURES].tolist()
        values = attributions.values.tolist()
        inputs = explanation.rows.tolist()
        errors = attributions.completeness_error.tolist()
        return [
            {
                "method": METHOD,
                "output": self._output,
                "baseline": BASELINE,
                "baseline_probability": attributions.baseline_probability,
                "completeness_error": error,
                "top_features": [
                    {
                        "feature": self._names[j],
                        "value": row_inputs[j],
                        "attribution": row_values[j],
                        "direction": self._direction(row_values[j]),
                    }
                    for j in top
                ],
                "attributions": dict(zip(self._names, row_values, strict=True)),
            }
            for row_values, row_inputs, top, error in zip(values, inputs, ranked, errors, strict=True)
        ]

    def _direction(self, attribution: float) -> str:
        if attribution > 0:
            return self._towards
        return self._away if attribution < 0 else "none"
