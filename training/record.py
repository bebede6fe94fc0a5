"""One record of a training run: what the manifest, the report, the model card and the stdout summary show.

The pipeline builds it once, from the run's results; every output is derived from it, so a figure cannot
differ between the manifest and the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from neuralnet.artifacts import Feature
from training.calibration import Calibration
from training.evaluation import Comparison, HeldOut
from training.search import SearchResult
from training.threshold import ThresholdSelection


@dataclass(frozen=True, slots=True)
class RunRecord:
    """The run's identity, data and measured figures. ``label`` names the shipped model in the tables."""

    model_version: str
    created_at: str
    preset: str
    label: str
    seed: int
    positive_class: str
    features: tuple[Feature, ...]
    classes: tuple[str, ...]
    threshold: ThresholdSelection
    training_data: dict[str, Any]
    hyperparameters: dict[str, Any]
    architecture: str
    heldout: HeldOut
    comparison: Comparison | None
    target: dict[str, dict[str, Any]]
    target_basis: str
    search: SearchResult | None
    notes: dict[str, list[str]]
    plots: Sequence[str]
    out_of_distribution: dict[str, Any] | None = None

    @property
    def cv(self) -> dict[str, dict[str, float]] | None:
        """The shipped model's cross-validation summary (mean, std per metric), if cross-validation ran."""
        return None if self.comparison is None else self.comparison.scores[self.label].summary()

    @property
    def calibration(self) -> Calibration | None:
        """The shipped model's calibration under cross-validation, if it ran."""
        return None if self.comparison is None else self.comparison.calibration[self.label]

    def metrics(self) -> dict[str, Any]:
        """The manifest's ``metrics``: held-out figures, quality target, CV of every compared model, search."""
        target = self.target
        metrics: dict[str, Any] = {
            "model": self.label,
            "heldout": self.heldout.as_json(),
            "quality_target": {
                "basis": self.target_basis,
                "checks": target,
                "passed": all(check["passed"] for check in target.values()),
            },
        }
        if self.comparison is not None:
            metrics["cv"] = {
                "protocol": self.comparison.protocol,
                "n_folds": self.comparison.protocol["n_folds"],
                "models": {name: scores.summary() for name, scores in self.comparison.scores.items()},
            }
            metrics["calibration"] = {name: c.as_json() for name, c in self.comparison.calibration.items()}
            metrics["heldout_peers"] = self.comparison.heldout
        if self.notes:
            metrics["convergence_warnings"] = self.notes
        if self.search is not None:
            metrics["search"] = self.search.as_json()
        if self.out_of_distribution is not None:
            metrics["out_of_distribution"] = self.out_of_distribution
        return metrics

    def manifest_fields(self, library_versions: dict[str, str]) -> dict[str, Any]:
        """The fields of ``manifest.json`` that the run decides (the contract adds the files' hashes)."""
        return {
            "model_version": self.model_version,
            "created_at": self.created_at,
            "preset": self.preset,
            "features": self.features,
            "classes": self.classes,
            "positive_class": self.positive_class,
            "decision_threshold": self.threshold.threshold,
            "threshold_selection": self.threshold.as_json(),
            "hyperparameters": self.hyperparameters,
            "metrics": self.metrics(),
            "library_versions": library_versions,
            "training_data": self.training_data,
        }
