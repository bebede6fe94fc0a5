"""The report's plots show what the reader needs: validation loss beside training loss, the operating point."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from neuralnet import make_preset
from training import evaluation, report

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def fitted() -> tuple[Any, evaluation.HeldOut]:
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = make_preset("default", random_state=0).fit(X[:400], y[:400])
    heldout = evaluation.evaluate_heldout(
        model, X[400:], y[400:], class_names=("malignant", "benign"), positive_class="malignant", threshold=0.5
    )
    return model, heldout


def _labels(figure: Any) -> list[str]:
    return [str(line.get_label()) for line in figure.axes[0].get_lines()]


def test_the_loss_plot_shows_validation_loss_and_the_kept_epoch(fitted: tuple[Any, evaluation.HeldOut]) -> None:
    model, _ = fitted
    curves = report.loss_curves(model)
    assert len(curves) == len(model.estimators_)
    figure = report.loss_figure(curves, "loss")
    assert {"training loss", "validation loss", "kept epoch (lowest validation loss)"} <= set(_labels(figure))
    network, curve = model.estimators_[0], curves[0]
    assert curve.validation == [-score for score in network.validation_scores_]
    kept = [line for line in figure.axes[0].get_lines() if line.get_label() == "kept epoch (lowest validation loss)"]
    np.testing.assert_allclose(kept[0].get_ydata(), [min(curve.validation)])


def test_the_roc_plot_marks_the_operating_threshold(fitted: tuple[Any, evaluation.HeldOut]) -> None:
    _, heldout = fitted
    figure = report.roc_figure(heldout, "malignant", 0.5, "ROC")
    (point,) = [line for line in figure.axes[0].get_lines() if str(line.get_label()).startswith("threshold 0.5")]
    positive = np.asarray(heldout.y_positive, dtype=bool)
    called = np.asarray(heldout.p_positive) >= 0.5
    np.testing.assert_allclose(point.get_xdata(), [called[~positive].mean()])
    np.testing.assert_allclose(point.get_ydata(), [called[positive].mean()])
    assert "sensitivity" in str(point.get_label())
