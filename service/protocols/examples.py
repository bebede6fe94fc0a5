"""Request examples for the API docs, made from the manifest's feature ranges (no rows are stored).

They are synthetic: each feature sits at the same fraction of its training range. Real tumours do not vary
in lockstep, so the examples show the request shapes and plausible magnitudes, not patients.
"""

from __future__ import annotations

from typing import Any, Final

from neuralnet.artifacts import Manifest
from service.protocols.schemas import BATCH_KEY

FRACTIONS: Final = {"lower": 0.15, "higher": 0.40}
"""Where in each feature's training range the two example records sit."""


def example_row(manifest: Manifest, fraction: float) -> list[float]:
    """Values ``fraction`` of the way through each feature's training range, to four significant digits."""
    row = []
    for feature in manifest.features:
        value = float(f"{feature.training_min + fraction * (feature.training_max - feature.training_min):.4g}")
        row.append(min(max(value, feature.training_min), feature.training_max))
    return row


def request_examples(manifest: Manifest) -> dict[str, dict[str, Any]]:
    """OpenAPI ``examples`` of the four request forms, each valid for this manifest."""
    names = [feature.api_name for feature in manifest.features]
    low, high = (example_row(manifest, fraction) for fraction in FRACTIONS.values())
    note = (
        f"Synthetic values: every feature at {FRACTIONS['lower']:.0%} (lower) or {FRACTIONS['higher']:.0%} "
        "(higher) of its training range, from the model's manifest."
    )
    return {
        "named": {
            "summary": "One record, keyed by feature name",
            "description": note,
            "value": dict(zip(names, low, strict=True)),
        },
        "array": {
            "summary": f"One record as {len(names)} numbers in feature order",
            "description": note,
            "value": high,
        },
        "batch_named": {
            "summary": "A batch of named records",
            "description": note,
            "value": {BATCH_KEY: [dict(zip(names, row, strict=True)) for row in (low, high)]},
        },
        "batch_array": {"summary": "A batch of array records", "description": note, "value": {BATCH_KEY: [low, high]}},
    }
