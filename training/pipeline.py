"""Orchestration: split, fit, evaluate, compare, and write the model directory through neuralnet.artifacts."""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import tempfile
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
    MANIFEST_FILE,
    MODEL_CARD_JSON_FILE,
    MODEL_CARD_MARKDOWN_FILE,
    NOVELTY_FILE,
    SIGNING_KEY_ENV,
    ArtifactError,
    Manifest,
    key_id,
    point_latest_at,
    read_manifest,
    write_model_dir,
)
from neuralnet.novelty import NoveltyDetector
from training import calibration, dataset, estimators, evaluation, model_card, novelty, report, threshold
from training.errors import TrainingError
from training.record import RunRecord
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
    _check_config(config)
    estimator = _build_preset(config)
    check_destination(destination)
    data = dataset.load_dataset()
    split = dataset.split_dataset(data, config.seed)
    logger.info("data: %d training rows, %d held out (seed %d)", len(split.y_train), len(split.y_test), config.seed)
    estimator, search = _search(config, estimator, split)
    label = f"{config.preset} (tuned)" if search is not None else config.preset
    fitted = _fit_and_compare(config, estimator, label, data, split)
    detector = novelty.fit_detector(split.X_train)
    record = _record(
        config,
        fitted,
        detector,
        label=label,
        search=search,
        data=data,
        split=split,
        model_version=model_version or new_model_version(config.preset, now),
        created_at=_iso(now),
    )
    files = {**fitted.plots, NOVELTY_FILE: detector.to_npz(), **_documents(record)}
    manifest = _write(destination, record, fitted, files, config.signing_key)
    return TrainingResult(
        directory=destination,
        manifest=manifest,
        summary=report.summary_table(record),
        search=search,
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True, slots=True)
class _Fitted:
    """The fitted scaler and model, with what was measured while fitting them."""

    scaler: StandardScaler
    model: Any
    convergence: list[str]
    selection: threshold.ThresholdSelection
    heldout: evaluation.HeldOut
    comparison: evaluation.Comparison | None
    plots: dict[str, bytes]


def _check_config(config: TrainingConfig) -> None:
    if config.cv_repeats < 0:
        raise TrainingError(f"cv_repeats must be >= 0, got {config.cv_repeats}")
    if not 0.0 < config.target_sensitivity < 1.0:
        raise TrainingError(f"the target sensitivity must be between 0 and 1, got {config.target_sensitivity}")


def _build_preset(config: TrainingConfig) -> Any:
    try:
        return estimators.build_preset(config.preset, config.seed)
    except ValueError as error:
        raise TrainingError(str(error)) from None


def _search(config: TrainingConfig, estimator: Any, split: dataset.Split) -> tuple[Any, SearchResult | None]:
    """With a grid: search it on the training rows, and the estimator with the best parameters."""
    if config.grid is None:
        return estimator, None
    search = run_search(estimator, config.grid, split.X_train, split.y_train, seed=config.seed)
    return clone(estimator).set_params(**search.best_params), search


def _fit_and_compare(
    config: TrainingConfig, estimator: Any, label: str, data: dataset.Dataset, split: dataset.Split
) -> _Fitted:
    """Fit and evaluate the model while the cross-validation of it and its peers runs in worker processes."""
    positive_label = data.target_names.index(POSITIVE_CLASS)
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
        heldout = evaluation.evaluate_heldout(
            model,
            X_test,
            split.y_test,
            class_names=_class_names(model, data),
            positive_class=POSITIVE_CLASS,
            threshold=selection.threshold,
        )
        plots = _plots(model, heldout, label, selection.threshold) if config.plots else {}
        comparison = None
        if cross_validation is not None:
            comparison = _compare(config, peer_factories, cross_validation, X_train, X_test, split=split, data=data)
            if plots:
                plots[report.RELIABILITY_PLOT_FILE] = report.plot_reliability(comparison.calibration, label)
    finally:
        if cross_validation is not None:
            cross_validation.cancel()  # stops the workers when something above failed; a no-op once done
    return _Fitted(scaler, model, convergence, selection, heldout, comparison, plots)


def _record(
    config: TrainingConfig,
    fitted: _Fitted,
    detector: NoveltyDetector,
    *,
    label: str,
    search: SearchResult | None,
    data: dataset.Dataset,
    split: dataset.Split,
    model_version: str,
    created_at: str,
) -> RunRecord:
    """The one record of the run that the manifest, the report, the model card and the summary derive from."""
    comparison = fitted.comparison
    notes = {label: fitted.convergence, **(comparison.notes if comparison is not None else {})}
    basis, target = _quality(label, fitted.heldout, comparison)
    features = dataset.features(data.feature_names, split.X_train)
    return RunRecord(
        model_version=model_version,
        created_at=created_at,
        preset=config.preset,
        label=label,
        seed=config.seed,
        positive_class=POSITIVE_CLASS,
        features=features,
        classes=_class_names(fitted.model, data),
        threshold=fitted.selection,
        training_data=dataset.training_fingerprint(split),
        hyperparameters=estimators.json_safe_params(fitted.model),
        architecture=model_card.architecture(fitted.model),
        heldout=fitted.heldout,
        comparison=comparison,
        target=target,
        target_basis=basis,
        search=search,
        notes={name: messages for name, messages in notes.items() if messages},
        plots=list(fitted.plots),
        out_of_distribution=novelty.measure(detector, split.X_test, features, config.seed),
    )


def _documents(record: RunRecord) -> dict[str, bytes]:
    """The report and the model card, rendered from the run's record."""
    card = model_card.build_card(record)
    return {
        report.REPORT_FILE: report.render_report(record).encode("utf-8"),
        MODEL_CARD_JSON_FILE: model_card.render_json(card),
        MODEL_CARD_MARKDOWN_FILE: model_card.render_markdown(card).encode("utf-8"),
    }


def _write(
    destination: Path, record: RunRecord, fitted: _Fitted, files: dict[str, bytes], signing_key: bytes | None
) -> Manifest:
    """Write the model directory through the artifacts contract, signed when there is a key."""
    try:
        manifest = write_model_dir(
            destination,
            scaler=fitted.scaler,
            model=fitted.model,
            manifest_fields=record.manifest_fields(library_versions()),
            extra_files=files,
            signing_key=signing_key,
        )
    except (OSError, ArtifactError) as error:
        raise TrainingError(f"cannot write the model directory {destination}: {_reason(error)}") from None
    if signing_key is None:
        logger.info("wrote %s, unsigned (set %s to sign it)", destination, SIGNING_KEY_ENV)
    else:
        logger.info("wrote %s, signed with key id %s", destination, key_id(signing_key))
    return manifest


def _class_names(model: Any, data: dataset.Dataset) -> tuple[str, ...]:
    return tuple(data.target_names[int(code)] for code in model.classes_)


def check_destination(destination: Path) -> None:
    """Refuse, before any training, a destination the model directory cannot be written to; say so when an
    existing model directory will be replaced."""
    destination = Path(destination)
    for path in (destination, *destination.parents):
        if path.exists() and not path.is_dir():
            raise TrainingError(f"cannot write the model directory {destination}: {path} is a file, not a directory")
    if destination.is_dir() and any(destination.iterdir()):
        try:
            previous = read_manifest(destination).model_version
        except ArtifactError:
            if not (destination / MANIFEST_FILE).exists():
                raise TrainingError(
                    f"{destination} is not empty and not a model directory; refusing to replace it"
                ) from None
            previous = "(unreadable manifest)"
        logger.warning("%s holds model %s; it will be replaced once the new model is written", destination, previous)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{destination.name}.", dir=destination.parent):
            pass
    except OSError as error:
        raise TrainingError(f"cannot write the model directory {destination}: {_reason(error)}") from None


def _reason(error: Exception) -> str:
    """Why writing failed, without the temporary paths an ``OSError`` names (``Permission denied``)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


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


def _plots(model: Any, heldout: evaluation.HeldOut, label: str, decision_threshold: float) -> dict[str, bytes]:
    if not report.matplotlib_available():
        logger.info("matplotlib is not installed; skipping the plots")
        return {}
    files: dict[str, bytes] = {}
    curves = report.loss_curves(model)
    if curves:
        files[report.LOSS_PLOT_FILE] = report.plot_loss_curves(curves, f"loss per epoch: {label}")
    files[report.ROC_PLOT_FILE] = report.plot_roc(
        heldout, POSITIVE_CLASS, decision_threshold, f"ROC on the held-out rows: {label}"
    )
    return files


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
