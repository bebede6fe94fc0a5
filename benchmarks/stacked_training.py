"""Training benchmark: networks fitted together as stacks against the same networks fitted one at a time.

For the two presets on the protocol's first cross-validation folds, it prints the CPU time of fitting every
single network one after the other (the baseline: how networks trained before they trained in stacks; for the
ensemble, each member alone) and of fitting the folds' models with :func:`neuralnet.stacking.fit_together`, as
the training run does, interleaved and repeated so that the machine's noise hits both sides alike: the
medians and their ratio. It checks that both give the same weights. Then, unless ``--no-full-run``, it
times one whole ``python -m training`` (wall and CPU). Run it with ``make bench-training`` or
``python benchmarks/stacked_training.py``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.preprocessing import StandardScaler

from neuralnet import make_preset
from neuralnet.stacking import fit_together

ROOT = Path(__file__).resolve().parent.parent


def _fold_data(n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The training rows of the protocol's first ``n_folds`` folds, scaled inside each fold."""
    X, y = load_breast_cancer(return_X_y=True)
    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=10, random_state=0).split(X, y)
    data = []
    for _, (train, _) in zip(range(n_folds), folds, strict=False):
        data.append((StandardScaler().fit_transform(X[train]), y[train]))
    return data


def _cpu_seconds(fit: Callable[[], list[Any]]) -> tuple[float, list[Any]]:
    started = time.process_time()
    models = fit()
    return time.process_time() - started, models


def _networks(model: Any) -> list[Any]:
    """The single networks a model is made of: an ensemble's members, or the model itself."""
    return list(getattr(model, "estimators_", [model]))


def compare_stacking(name: str, template: Any, n_folds: int, repeats: int) -> None:
    data = _fold_data(n_folds)
    reference = [clone(template) for _ in data]
    fit_together(reference, data)
    networks = [(network, X, y) for model, (X, y) in zip(reference, data, strict=True) for network in _networks(model)]

    def one_at_a_time() -> list[Any]:
        return [clone(network).fit(X, y) for network, X, y in networks]

    def together() -> list[Any]:
        models = [clone(template) for _ in data]
        fit_together(models, data)
        return [network for model in models for network in _networks(model)]

    alone_times, stacked_times = [], []
    for _ in range(repeats):
        seconds, alone = _cpu_seconds(one_at_a_time)
        alone_times.append(seconds)
        seconds, stacked = _cpu_seconds(together)
        stacked_times.append(seconds)
    same = all(
        np.array_equal(a, b)
        for n1, n2 in zip(alone, stacked, strict=True)
        for a, b in zip((*n1.coefs_, *n1.intercepts_), (*n2.coefs_, *n2.intercepts_), strict=True)
    )
    alone_median, stacked_median = statistics.median(alone_times), statistics.median(stacked_times)
    print(
        f"{name:<24} {len(networks):>3} networks on {n_folds} folds: one at a time {alone_median:6.2f} s, "
        f"together {stacked_median:6.2f} s (CPU, median of {repeats}) -> {alone_median / stacked_median:4.2f}x; "
        f"same weights: {same}"
    )


def full_run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "training", "--output-dir", str(Path(tmp) / "model")],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"python -m training (default preset, 50-fold comparison): {wall:.1f} s wall, {cpu:.1f} s CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=10, help="folds per comparison (the run stacks 10)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed-epochs", type=int, default=2000, help="epochs of the seed preset (the run: 10,000)")
    parser.add_argument("--no-full-run", action="store_true", help="skip timing a whole python -m training")
    args = parser.parse_args()
    seed = make_preset("seed", random_state=0).set_params(max_iter=args.seed_epochs)
    compare_stacking(f"seed ({args.seed_epochs:,} epochs)", seed, args.folds, args.repeats)
    compare_stacking("default (10 members)", make_preset("default", random_state=0), args.folds, args.repeats)
    if not args.no_full_run:
        full_run()


if __name__ == "__main__":
    main()
