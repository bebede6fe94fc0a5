"""The real cross-validation protocol, with few repeats: every peer on the same folds, plausible figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuralnet.artifacts import load_model_dir
from training.pipeline import TrainingConfig, train


@pytest.mark.slow
def test_cv_compares_the_model_with_its_three_peers(tmp_path: Path) -> None:
    result = train(TrainingConfig(preset="default", seed=0, cv_repeats=1), tmp_path / "model")
    manifest = load_model_dir(tmp_path / "model").manifest
    cv = manifest.metrics["cv"]
    assert cv["n_folds"] == 5
    assert list(cv["models"]) == ["default", "seed", "LogisticRegression", "MLPClassifier"]
    for name, scores in cv["models"].items():
        assert 0.93 <= scores["accuracy"]["mean"] <= 1.0, name
        assert 0.97 <= scores["roc_auc"]["mean"] <= 1.0, name
        assert 0.0 < scores["log_loss"]["mean"] < 0.3, name
        assert 0.0 < scores["brier_score"]["mean"] < 0.06, name
        assert scores["accuracy"]["std"] >= 0.0
    assert set(manifest.metrics["heldout_peers"]) == {"seed", "LogisticRegression", "MLPClassifier"}
    assert manifest.metrics["quality_target"]["basis"].startswith("the cross-validation means")
    report = (tmp_path / "model" / "report.md").read_text()
    for name in ("default", "seed", "LogisticRegression", "MLPClassifier"):
        assert name in report.split("## Cross-validation on the same folds")[1].split("Reference figures")[0]
    assert "±" in report
    assert "| LogisticRegression (this run, 5 folds) |" in report
    assert "MLPClassifier" in result.summary
    selection = manifest.threshold_selection
    assert manifest.decision_threshold == selection["threshold"] < 0.5  # a sensitivity of 0.98 needs a lower one
    nested, at_half = selection["nested_cv"], selection["nested_cv_at_0.5"]
    assert nested["sensitivity"]["value"] >= 0.97  # on folds the threshold was not chosen on
    assert nested["specificity"]["value"] >= 0.85
    assert nested["sensitivity"]["value"] >= at_half["sensitivity"]["value"]
    assert nested["sensitivity"]["ci_low"] < nested["sensitivity"]["value"] < nested["sensitivity"]["ci_high"]
    assert selection["protocol"]["n_rows"] == manifest.training_data["n_rows"]
    assert "## Decision threshold" in report
    calibration = manifest.metrics["calibration"]
    assert list(calibration) == list(cv["models"])
    for name, figures in calibration.items():
        assert 0.0 <= figures["ece"]["mean"] < 0.06, name
        assert figures["brier_score"]["mean"] == pytest.approx(cv["models"][name]["brier_score"]["mean"], abs=0.01)
    assert "### Calibration" in report
    assert (tmp_path / "model" / "reliability_cv.png").read_bytes().startswith(b"\x89PNG")
    card = json.loads((tmp_path / "model" / "model_card.json").read_bytes())
    assert card["decision_threshold"]["nested_cv"] == selection["nested_cv"]
    assert card["calibration"]["ece"] == pytest.approx(calibration["default"]["ece"]["mean"])
    assert "| threshold chosen for the target |" in (tmp_path / "model" / "model_card.md").read_text()
