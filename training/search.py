"""Grid search over the network's hyper-parameters, on the training rows only, scaler inside each fold."""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from training.errors import TrainingError
from training.evaluation import CV_N_JOBS, LOWER_IS_BETTER, METRICS, SCORERS

logger = logging.getLogger(__name__)

Grid = list[dict[str, list[Any]]]
"""Normalised grid: a list of {parameter: candidate values}, as GridSearchCV accepts it."""

SEARCH_SPLITS: Final = 5
REFIT_METRIC: Final = "log_loss"
"""The search keeps the candidate with the best mean log loss: a proper scoring rule, with far fewer ties
than accuracy on a few hundred rows."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One grid point: its rank (by `REFIT_METRIC`), parameters and mean/std of every metric."""

    rank: int
    params: dict[str, Any]
    scores: dict[str, tuple[float, float]]


@dataclass(frozen=True, slots=True)
class SearchResult:
    grid: Grid
    candidates: list[Candidate]
    best_params: dict[str, Any]
    n_splits: int
    seconds: float

    def as_json(self, top: int = 10) -> dict[str, Any]:
        return {
            "grid": _jsonable(self.grid),
            "cv": f"StratifiedKFold(n_splits={self.n_splits}, shuffle=True) on the training rows",
            "refit_metric": REFIT_METRIC,
            "n_candidates": len(self.candidates),
            "best_params": _jsonable(self.best_params),
            "ranked": [
                {
                    "rank": c.rank,
                    "params": _jsonable(c.params),
                    **{name: {"mean": mean, "std": std} for name, (mean, std) in c.scores.items()},
                }
                for c in self.candidates[:top]
            ],
        }


def parse_grid(text: str) -> Grid:
    """A grid from JSON: an object {param: [values]} or a list of such objects. Raises `TrainingError`.

    Inner JSON arrays become tuples (``[[8], [16]]`` -> ``(8,), (16,)``), the form hidden_layer_sizes takes.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise TrainingError(f"the grid is not valid JSON: {error}") from None
    blocks = raw if isinstance(raw, list) else [raw]
    if not blocks:
        raise TrainingError("the grid is empty")
    grid: Grid = []
    for block in blocks:
        if not isinstance(block, dict) or not block:
            raise TrainingError('the grid must be a JSON object like {"param": [value, ...]} or a list of them')
        parsed: dict[str, list[Any]] = {}
        for name, values in block.items():
            if not isinstance(values, list) or not values:
                raise TrainingError(f"grid parameter {name!r} needs a non-empty JSON list of values")
            parsed[name] = [tuple(v) if isinstance(v, list) else v for v in values]
        grid.append(parsed)
    return grid


def read_grid(argument: str) -> Grid:
    """``--search`` value: inline JSON, or ``@path`` to a JSON file."""
    if argument.startswith("@"):
        return read_grid_file(Path(argument[1:]))
    return parse_grid(argument)


def read_grid_file(path: Path) -> Grid:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TrainingError(f"cannot read the grid file {path}: {error.strerror or error}") from None
    return parse_grid(text)


def resolve_grid(estimator: Any, grid: Grid) -> Grid:
    """The grid with every key a parameter of ``estimator``; raises `TrainingError` naming unknown keys.

    A key that is not a parameter itself but names exactly one nested parameter is completed, so that
    ``hidden_layer_sizes`` reaches an ensemble's members as ``estimator__hidden_layer_sizes``.
    """
    valid = set(estimator.get_params(deep=True))
    resolved: Grid = []
    for block in grid:
        unknown, renamed = [], {}
        for key, values in block.items():
            nested = [name for name in valid if name.endswith(f"__{key}")]
            if key in valid:
                renamed[key] = values
            elif len(nested) == 1:
                logger.info("grid parameter %r -> %r", key, nested[0])
                renamed[nested[0]] = values
            else:
                unknown.append(key)
        if unknown:
            raise TrainingError(
                f"{type(estimator).__name__} has no parameter {', '.join(map(repr, unknown))}; "
                f"valid: {', '.join(sorted(valid))}"
            )
        resolved.append(renamed)
    return resolved


def run_search(
    estimator: Any,
    grid: Grid,
    X_train: NDArray[np.float64],
    y_train: NDArray[np.int64],
    *,
    seed: int,
    n_jobs: int = CV_N_JOBS,
) -> SearchResult:
    """GridSearchCV over ``grid`` on the training rows; the scaler is refitted inside every fold."""
    grid = resolve_grid(estimator, grid)
    pipeline = make_pipeline(StandardScaler(), clone(estimator))
    step = pipeline.steps[-1][0]
    prefixed = [{f"{step}__{name}": values for name, values in block.items()} for block in grid]
    n_candidates = sum(int(np.prod([len(v) for v in block.values()])) for block in grid)
    logger.info("grid search: %d candidates x %d folds on the training rows...", n_candidates, SEARCH_SPLITS)
    search = GridSearchCV(
        pipeline,
        prefixed,
        scoring=dict(SCORERS),
        refit=False,
        cv=StratifiedKFold(n_splits=SEARCH_SPLITS, shuffle=True, random_state=seed),
        n_jobs=n_jobs,
        error_score="raise",
    )
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X_train, y_train)
    except (ValueError, TypeError) as error:
        message = " ".join(str(error).split())
        raise TrainingError(f"grid search failed: {message}") from None
    seconds = time.perf_counter() - started
    logger.info("grid search done in %.1f s", seconds)
    results = search.cv_results_
    strip = len(step) + 2
    candidates = []
    for i, params in enumerate(results["params"]):
        scores = {}
        for metric in METRICS:
            mean = float(results[f"mean_test_{metric}"][i])
            std = float(results[f"std_test_{metric}"][i])
            scores[metric] = (abs(mean), std) if metric in LOWER_IS_BETTER else (mean, std)
        candidates.append(Candidate(rank=0, params={k[strip:]: v for k, v in params.items()}, scores=scores))
    sign = 1.0 if REFIT_METRIC in LOWER_IS_BETTER else -1.0
    ordered = sorted(range(len(candidates)), key=lambda i: (sign * candidates[i].scores[REFIT_METRIC][0], i))
    ranked = [
        Candidate(rank=rank, params=candidates[i].params, scores=candidates[i].scores)
        for rank, i in enumerate(ordered, start=1)
    ]
    return SearchResult(
        grid=grid,
        candidates=ranked,
        best_params=dict(ranked[0].params),
        n_splits=SEARCH_SPLITS,
        seconds=seconds,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
