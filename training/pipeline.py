"""Orchestration: split, fit, evaluate, compare, and write the model directory through neuralnet.artifacts."""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import joblib
import numpy as np
import sklearn
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from neuralnet.artifacts import (
    MODEL_CARD_JSON_FILE,
    MODEL_CARD_MARKDOWN_FILE,
    NOVELTY_FILE,
    SIGNING_KEY_ENV,
    ArtifactError,
    Manifest,
    key_id,
    point_latest_at,
    write_model_dir,
)
from training import calibration, dataset, estimators, evaluation, model_card, novelty, report, threshold
from training.errors import TrainingError
from training.search import Grid, SearchResult, run_search

logger = logging.getLogger(__name__)

POSITIVE_CLASS: Final = "malignant"

PROJECT_DISTRIBUTION: Final = "wdbc-diagnosis"


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    preset: str = "default"
    seed: int = 0
    cv_repeats: int = 0
    grid: Grid | None = None
    plots: bool = True
    target_sensitivity: float = threshold.DEFAULT_TARGET_SENSITIVITY
    signing_key: bytes | None = None
    """Signs the manifest (``MODEL_SIGNING_KEY``); without it the model directory is unsigned."""


@dataclass(frozen=True, slots=True)
class TrainingResult:
    directory: Path
    manifest: Manifest
    summary: str
    search: SearchResult | None
    seconds: float


def train_model_dir(
    output_dir: Path, *, preset: str = "default", random_state: int = 0, cv_repeats: int = 0
) -> Manifest:
    """Train ``preset`` and write a complete model directory at ``output_dir``; return its manifest.

    With ``cv_repeats=0`` (no cross-validation, no peers) this takes a few seconds: meant for test fixtures.
    """
    config = TrainingConfig(preset=preset, seed=random_state, cv_repeats=cv_repeats)
    return train(config, Path(output_dir)).manifest


def train_versioned(config: TrainingConfig, models_root: Path) -> TrainingResult:
    """Train into a new ``models_root/<model_version>/`` and point ``models_root/latest`` at it."""
    models_root = Path(models_root)
    now = datetime.now(UTC)
    version = new_model_version(config.preset, now, models_root)
    result = train(config, models_root / version, model_version=version, now=now)
    try:
        point_latest_at(models_root, result.directory)
    except OSError as error:
        raise TrainingError(f"cannot point {models_root}/latest at {version}: {error}") from None
    logger.info("%s/latest -> %s", models_root, version)
    return result


def new_model_version(preset: str, now: datetime, models_root: Path | None = None) -> str:
    """``20261122T081500Z-default``: UTC time then preset, so names sort by time; a suffix keeps it unique."""
    base = f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{preset}"
    if models_root is None:
        return base
    version, counter = base, 1
    while (models_root / version).exists():
        counter += 1
        version = f"{base}-{counter}"
    return version


def train(
    config: TrainingConfig,
    destination: Path,
    *,
    model_version: str | None = None,
    now: datetime | None = None,
) -> TrainingResult:
    """The whole run: split, (search), fit, evaluate, (cross-validate with the peers), write ``destination``."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    model_version = model_version or new_model_version(config.preset, now)
    if config.cv_repeats < 0:
        raise TrainingError(f"cv_repeats must be >= 0, got {config.cv_repeats}")
    if not 0.0 < config.target_sensitivity < 1.0:
        raise TrainingError(f"the target sensitivity must be between 0 and 1, got {config.target_sensitivity}")
    try:
        estimator = estimators.build_preset(config.preset, config.seed)
    except ValueError as error:
        raise TrainingError(str(error)) from None

    data = dataset.load_dataset()
    positive_label = data.target_names.index(POSITIVE_CLASS)
    split = dataset.split_dataset(data, config.seed)
    logger.info("data: %d training rows, %d held out (seed %d)", len(split.y_train), len(split.y_test), config.seed)

    search = None
    if config.grid is not None:
        search = run_search(estimator, config.grid, split.X_train, split.y_train, seed=config.seed)
        estimator = clone(estimator).set_params(**search.best_params)

    label = f"{config.preset} (tuned)" if search is not None else config.preset
    peer_factories = estimators.peers(config.preset)
    cross_validation = None
    if config.cv_repeats > 0:  # in worker processes, while this one fits and evaluates below
        models = {label: lambda: clone(estimator), **peer_factories}
        cross_validation = evaluation.CrossValidation(
            models, data.X, data.y, n_repeats=config.cv_repeats, positive_label=positive_label
        )
    try:
        logger.info("fitting %s on the training rows...", label)
        scaler = StandardScaler().fit(split.X_train)
        X_train, X_test = scaler.transform(split.X_train), scaler.transform(split.X_test)
        fit_started = time.perf_counter()
        model, convergence = evaluation.fit_with_warnings(estimator, X_train, split.y_train)
        logger.info("fitted %s in %.1f s", label, time.perf_counter() - fit_started)

        selection = _select_threshold(config, estimator, split, positive_label)
        class_names = tuple(data.target_names[int(code)] for code in model.classes_)
        heldout = evaluation.evaluate_heldout(
            model,
            X_test,
            split.y_test,
            class_names=class_names,
            positive_class=POSITIVE_CLASS,
            threshold=selection.threshold,
        )
        extra_files, plot_names = _plots(model, heldout, label) if config.plots else ({}, [])
        comparison = None
        if cross_validation is not None:
            comparison = _compare(config, peer_factories, cross_validation, X_train, X_test, split=split, data=data)
            if plot_names:
                extra_files[report.RELIABILITY_PLOT_FILE] = report.plot_reliability(comparison.calibration, label)
                plot_names.append(report.RELIABILITY_PLOT_FILE)
    finally:
        if cross_validation is not None:
            cross_validation.cancel()  # stops the workers when something above failed; a no-op once done
    notes = {label: convergence, **(comparison.notes if comparison is not None else {})}
    notes = {name: messages for name, messages in notes.items() if messages}

    basis, target = _quality(label, heldout, comparison)
    metrics = _metrics(label, heldout, basis, target, comparison=comparison, notes=notes, search=search)

    features = dataset.features(data.feature_names, split.X_train)
    detector = novelty.fit_detector(split.X_train)
    metrics["out_of_distribution"] = novelty.measure(detector, split.X_test, features, config.seed)
    extra_files[NOVELTY_FILE] = detector.to_npz()
    hyperparameters = estimators.json_safe_params(model)
    training_data = dataset.training_fingerprint(split)
    report_data = report.ReportData(
        model_version=model_version,
        created_at=_iso(now),
        preset=config.preset,
        label=label,
        seed=config.seed,
        positive_class=POSITIVE_CLASS,
        threshold=selection,
        training_data=training_data,
        hyperparameters=hyperparameters,
        heldout=heldout,
        comparison=comparison,
        target=target,
        target_basis=basis,
        search=search,
        notes=notes,
        plots=plot_names,
        out_of_distribution=metrics["out_of_distribution"],
    )
    extra_files[report.REPORT_FILE] = report.render_report(report_data).encode("utf-8")
    card = model_card.build_card(
        model_card.CardData(
            model_version=model_version,
            created_at=_iso(now),
            preset=config.preset,
            architecture=model_card.architecture(model),
            training_data=training_data,
            heldout=heldout,
            threshold=selection,
            cv=None if comparison is None else comparison.scores[label].summary(),
            calibration=None if comparison is None else comparison.calibration[label],
            out_of_distribution=metrics["out_of_distribution"],
        )
    )
    extra_files[MODEL_CARD_JSON_FILE] = model_card.render_json(card)
    extra_files[MODEL_CARD_MARKDOWN_FILE] = model_card.render_markdown(card).encode("utf-8")

    manifest_fields = {
        "model_version": model_version,
        "created_at": _iso(now),
        "preset": config.preset,
        "features": features,
        "classes": class_names,
        "positive_class": POSITIVE_CLASS,
        "decision_threshold": selection.threshold,
        "threshold_selection": selection.as_json(),
        "hyperparameters": hyperparameters,
        "metrics": metrics,
        "library_versions": library_versions(),
        "training_data": training_data,
    }
    try:
        manifest = write_model_dir(
            destination,
            scaler=scaler,
            model=model,
            manifest_fields=manifest_fields,
            extra_files=extra_files,
            signing_key=config.signing_key,
        )
    except (OSError, ArtifactError) as error:
        raise TrainingError(f"cannot write the model directory {destination}: {error}") from None
    if config.signing_key is None:
        logger.info("wrote %s, unsigned (set %s to sign it)", destination, SIGNING_KEY_ENV)
    else:
        logger.info("wrote %s, signed with key id %s", destination, key_id(config.signing_key))
    return TrainingResult(
        directory=destination,
        manifest=manifest,
        summary=report.summary_table(report_data),
        search=search,
        seconds=time.perf_counter() - started,
    )


def library_versions() -> dict[str, str]:
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "joblib": joblib.__version__,
    }
    try:
        versions[PROJECT_DISTRIBUTION] = importlib.metadata.version(PROJECT_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        versions[PROJECT_DISTRIBUTION] = "unknown (not installed)"
    return versions


def _quality(
    label: str, heldout: evaluation.HeldOut, comparison: evaluation.Comparison | None
) -> tuple[str, dict[str, dict[str, Any]]]:
    """The quality target, judged on the CV means when cross-validation ran, else on the held-out rows."""
    if comparison is None:
        basis = f"the {len(heldout.y_positive)} held-out rows (cross-validation skipped)"
        return basis, evaluation.check_target(heldout.metrics)
    basis = f"the cross-validation means ({comparison.protocol['n_folds']} folds)"
    means = {metric: summary["mean"] for metric, summary in comparison.scores[label].summary().items()}
    return basis, evaluation.check_target(means)


def _metrics(
    label: str,
    heldout: evaluation.HeldOut,
    basis: str,
    target: dict[str, dict[str, Any]],
    *,
    comparison: evaluation.Comparison | None,
    notes: dict[str, list[str]],
    search: SearchResult | None,
) -> dict[str, Any]:
    """The manifest's ``metrics``: held-out figures, quality target, CV of every compared model, search."""
    metrics: dict[str, Any] = {
        "model": label,
        "heldout": heldout.as_json(),
        "quality_target": {"basis": basis, "checks": target, "passed": all(c["passed"] for c in target.values())},
    }
    if comparison is not None:
        metrics["cv"] = {
            "protocol": comparison.protocol,
            "n_folds": comparison.protocol["n_folds"],
            "models": {name: scores.summary() for name, scores in comparison.scores.items()},
        }
        metrics["calibration"] = {name: c.as_json() for name, c in comparison.calibration.items()}
        metrics["heldout_peers"] = comparison.heldout
    if notes:
        metrics["convergence_warnings"] = notes
    if search is not None:
        metrics["search"] = search.as_json()
    return metrics


def _compare(
    config: TrainingConfig,
    peer_factories: dict[str, Callable[[], Any]],
    cross_validation: evaluation.CrossValidation,
    X_train: NDArray[np.float64],
    X_test: NDArray[np.float64],
    *,
    split: dataset.Split,
    data: dataset.Dataset,
) -> evaluation.Comparison:
    """The held-out figures of the peers, fitted here on the scaled rows while the cross-validation runs, then
    its results.

    The fits here use one BLAS thread, like those of the cross-validation's workers: the cores are theirs.
    """
    logger.info("fitting the peers %s on the training rows...", ", ".join(peer_factories))
    started = time.perf_counter()
    heldout: dict[str, dict[str, float]] = {}
    notes: dict[str, list[str]] = {}
    with threadpool_limits(limits=1):
        for name, factory in peer_factories.items():
            peer, notes[name] = evaluation.fit_with_warnings(factory(), X_train, split.y_train)
            heldout[name] = evaluation.evaluate_heldout(
                peer,
                X_test,
                split.y_test,
                class_names=tuple(data.target_names[int(code)] for code in peer.classes_),
                positive_class=POSITIVE_CLASS,
                threshold=threshold.FIXED_THRESHOLD,
            ).metrics
    logger.info("fitted the peers in %.1f s", time.perf_counter() - started)
    scores = cross_validation.results()
    y_positive = data.y == data.target_names.index(POSITIVE_CLASS)
    return evaluation.Comparison(
        protocol=evaluation.cv_protocol(config.cv_repeats),
        scores=scores,
        heldout=heldout,
        notes=notes,
        calibration={
            name: calibration.cross_validated(s.out_of_fold, y_positive, evaluation.CV_SPLITS)
            for name, s in scores.items()
        },
    )


def _select_threshold(
    config: TrainingConfig, estimator: Any, split: dataset.Split, positive_label: int
) -> threshold.ThresholdSelection:
    """The decision threshold for the target sensitivity, from the training rows only; 0.5 without CV."""
    if config.cv_repeats == 0:
        return threshold.fixed("cross-validation skipped (--cv-repeats 0)")
    logger.info("choosing the threshold for sensitivity %.2f by nested cross-validation...", config.target_sensitivity)
    return threshold.select_threshold(
        lambda: clone(estimator),
        split.X_train,
        split.y_train,
        positive_label=positive_label,
        target=config.target_sensitivity,
        n_repeats=min(config.cv_repeats, threshold.MAX_REPEATS),
    )


def _plots(model: Any, heldout: evaluation.HeldOut, label: str) -> tuple[dict[str, bytes], list[str]]:
    if not report.matplotlib_available():
        logger.info("matplotlib is not installed; skipping the plots")
        return {}, []
    files: dict[str, bytes] = {}
    curves = report.loss_curves(model)
    if curves:
        files[report.LOSS_PLOT_FILE] = report.plot_loss_curves(curves, f"training loss: {label}")
    files[report.ROC_PLOT_FILE] = report.plot_roc(heldout, POSITIVE_CLASS, f"ROC on the held-out rows: {label}")
    return files, list(files)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
