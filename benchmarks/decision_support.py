"""Decision-support benchmark: what an explanation and the out-of-distribution score cost per record, in-process.

Loads a model directory exactly as the service does (``load_serving_files``), with
one BLAS thread as the service runs, and times on the data set's records, interleaved so that the machine's
noise hits every operation alike: the prediction alone, the out-of-distribution score, and integrated gradients
for one record and per record of a batch. It prints the median and 90th percentile per record, and the
completeness errors. Run it with ``make bench-decision`` or ``python benchmarks/decision_support.py``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from threadpoolctl import threadpool_limits

from neuralnet.artifacts import load_serving_files
from training.pipeline import train_model_dir


def _per_record_microseconds(operation: Callable[[], object], records: int, rounds: int) -> list[float]:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        operation()
        timings.append((time.perf_counter() - started) / records * 1e6)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="model directory (default: train one without CV)")
    parser.add_argument("--rounds", type=int, default=300, help="timed calls per operation (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=100, help="records per batched call (default: %(default)s)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        directory = args.model_dir
        if directory is None:
            directory = Path(scratch) / "model"
            train_model_dir(directory, cv_repeats=0)
        files = load_serving_files(directory)
    manifest, model, detector = files.manifest, files.model, files.novelty
    if detector is None:
        raise SystemExit(f"{directory} holds no out-of-distribution statistics")
    X = np.ascontiguousarray(load_breast_cancer().data)
    positive = manifest.positive_class_index
    rng = np.random.default_rng(0)
    one = [X[i : i + 1] for i in rng.integers(0, len(X), size=args.rounds)]
    batch = X[: args.batch]
    operations: dict[str, tuple[Callable[[int], object], int]] = {
        "predict, 1 record": (lambda k: model.predict_proba(one[k]), 1),
        "out-of-distribution score, 1 record": (lambda k: detector.score(one[k]), 1),
        "explain, 1 record": (lambda k: model.explain(one[k], positive), 1),
        f"predict, per record of {args.batch}": (lambda k: model.predict_proba(batch), args.batch),
        f"out-of-distribution score, per record of {args.batch}": (lambda k: detector.score(batch), args.batch),
        f"explain, per record of {args.batch}": (lambda k: model.explain(batch, positive), args.batch),
    }
    timings: dict[str, list[float]] = {name: [] for name in operations}
    with threadpool_limits(limits=1, user_api="blas"):
        for k in range(args.rounds):  # interleaved: one call of each operation per round
            for name, (operation, records) in operations.items():
                timings[name] += _per_record_microseconds(lambda: operation(k), records, 1)  # noqa: B023
        explained = model.explain(X, positive)
    print(f"model {manifest.model_version}, {args.rounds} rounds, one BLAS thread")
    print(f"{'operation':<48} {'median':>10} {'p90':>10}  (microseconds per record)")
    for name, values in timings.items():
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:<48} {statistics.median(values):>10.1f} {p90:>10.1f}")
    gap = np.abs(explained.probability - explained.baseline_probability)
    relative = explained.completeness_error / np.maximum(gap, 1e-3)
    print(
        f"completeness over the {len(X)} records: largest error {explained.completeness_error.max():.2e} "
        f"(relative {relative.max():.2e}); quadrature nodes used: {sorted(set(explained.nodes.tolist()))}"
    )


if __name__ == "__main__":
    main()
