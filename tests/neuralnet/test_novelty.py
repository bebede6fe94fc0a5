"""NoveltyDetector: the score from saved statistics, its archive, and the checks on it."""

from __future__ import annotations

import numpy as np
import pytest

from neuralnet.novelty import NoveltyDetector


def _detector(n: int = 3) -> NoveltyDetector:
    rng = np.random.default_rng(0)
    A = rng.normal(size=(n, n))
    return NoveltyDetector(
        offset=np.full(n, 0.01),
        log_mean=rng.normal(size=n),
        log_scale=rng.uniform(0.5, 2.0, size=n),
        location=rng.normal(scale=0.1, size=n),
        precision=A @ A.T + n * np.eye(n),
        thresholds=np.array([4.0, 3.0]),
    )


def test_the_score_is_the_larger_of_the_two_statistics_over_its_threshold() -> None:
    detector = _detector()
    X = np.random.default_rng(1).uniform(0, 5, size=(20, 3))
    scores = detector.score(X)
    d = (np.log(X + detector.offset) - detector.log_mean) / detector.log_scale - detector.location
    for i, row in enumerate(d):
        distance = np.sqrt(row @ detector.precision @ row)
        conditional = np.abs(detector.precision @ row) / np.sqrt(np.diag(detector.precision))
        assert scores.distance[i] == pytest.approx(distance)
        assert scores.residual[i] == pytest.approx(conditional.max())
        assert scores.feature_index[i] == conditional.argmax()
        assert scores.score[i] == pytest.approx(max(distance / 4.0, conditional.max() / 3.0))
    np.testing.assert_array_equal(scores.flagged, scores.score > 1)


def test_the_scores_are_exactly_those_of_the_formula_written_out_and_leave_the_rows_alone() -> None:
    """The in-place arithmetic gives the same bits as one expression per statistic (what the service answered
    before, and what training computed the thresholds with)."""
    detector = _detector(30)
    X = np.random.default_rng(2).uniform(0, 5, size=(1000, 30))
    before = X.copy()
    scores = detector.score(X)
    np.testing.assert_array_equal(X, before)
    d = (np.log(X + detector.offset) - detector.log_mean) / detector.log_scale - detector.location
    Pd = d @ detector.precision
    distance = np.sqrt(np.maximum(np.einsum("ij,ij->i", Pd, d), 0.0))
    residuals = np.abs(Pd) / np.sqrt(np.diag(detector.precision))
    residual = residuals.max(axis=1)
    assert scores.distance.tobytes() == distance.tobytes()
    assert scores.residual.tobytes() == residual.tobytes()
    assert scores.feature_index.tolist() == residuals.argmax(axis=1).tolist()
    assert scores.score.tobytes() == np.maximum(distance / 4.0, residual / 3.0).tobytes()


def test_the_archive_round_trips_exactly() -> None:
    detector = _detector()
    again = NoveltyDetector.from_npz(detector.to_npz())
    X = np.random.default_rng(2).uniform(0, 5, size=(5, 3))
    np.testing.assert_array_equal(again.score(X).score, detector.score(X).score)
    assert b"pickle" not in detector.to_npz()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.pop("thresholds"), "expected the arrays"),
        (lambda a: a.update(thresholds=np.array([1.0, -1.0])), "positive"),
        (lambda a: a.update(precision=np.eye(2)), "precision has shape"),
        (lambda a: a.update(log_mean=np.array([np.nan, 0.0, 0.0])), "finite"),
        (lambda a: a.update(offset=np.array([1, 1, 1])), "float64"),
        (lambda a: a.update(extra=np.zeros(3)), "expected the arrays"),
    ],
)
def test_broken_statistics_are_refused_with_the_array_named(change: object, message: str) -> None:
    detector = _detector()
    arrays = {
        name: getattr(detector, name)
        for name in ("offset", "log_mean", "log_scale", "location", "precision", "thresholds")
    }
    change(arrays)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        NoveltyDetector.from_arrays(arrays)


def test_garbage_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="not an archive"):
        NoveltyDetector.from_npz(b"PK\x03\x04 not really")


def test_one_row_scores_as_in_a_batch() -> None:
    """A lone row takes a shorter path; it must give the batch's numbers (to rounding) and the same feature."""
    detector = _detector(30)
    rng = np.random.default_rng(3)
    X = np.vstack([rng.uniform(0, 5, size=(200, 30)), np.zeros((1, 30)), np.full((1, 30), 1e6)])
    batch = detector.score(X)
    for i, row in enumerate(X):
        alone = detector.score(row[None, :])
        for name in ("score", "distance", "residual"):
            value = getattr(alone, name)
            assert (value.shape, value.dtype) == ((1,), np.float64)
            np.testing.assert_allclose(value[0], getattr(batch, name)[i], rtol=1e-12, atol=0)
        assert alone.feature_index.tolist() == [batch.feature_index[i]]
        assert alone.feature_index.dtype == np.intp
