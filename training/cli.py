"""Command line of ``python -m training`` / ``wdbc-train``: options, logging, exit codes.

Exit codes: 0 the model directory is written (whether or not it meets the quality target: the summary says
which figures fell short of it and by how much); 2 usage error (argparse); 1 expected failure, reported in one
line without a traceback. The destination is checked before any training, so a bad one fails at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from neuralnet.artifacts import SigningKeys
from training import estimators
from training.errors import TrainingError
from training.pipeline import TrainingConfig, TrainingResult, train, train_versioned
from training.report import search_lines
from training.search import Grid, read_grid, read_grid_file
from training.threshold import DEFAULT_TARGET_SENSITIVITY

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
MAX_SEED: Final = 2**32 - 1
"""NumPy's and scikit-learn's seeds are unsigned 32-bit integers."""

logger = logging.getLogger("training")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wdbc-train",
        description="Train the breast-cancer diagnosis network on scikit-learn's copy of the Wisconsin "
        "diagnostic data set, evaluate it, and write a model directory.",
    )
    parser.add_argument(
        "--preset",
        default="default",
        choices=estimators.preset_names(),
        help="network preset from the core package (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help=f"seed of the train/test split and of the network, 0 to {MAX_SEED} (default: %(default)s)",
    )
    parser.add_argument(
        "--cv-repeats",
        type=_non_negative,
        default=10,
        metavar="N",
        help="repeats of the 5-fold cross-validation comparing the model with its peers; 0 skips it "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--target-sensitivity",
        type=_fraction,
        default=DEFAULT_TARGET_SENSITIVITY,
        metavar="S",
        help="choose the decision threshold so that cross-validation catches at least this fraction of malignant "
        "tumours on the training rows (needs --cv-repeats >= 1; else the threshold is 0.5) (default: %(default)s)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--output-dir", type=Path, metavar="DIR", help="write the model directory exactly at DIR")
    where.add_argument(
        "--models-root",
        type=Path,
        default=Path("models"),
        metavar="DIR",
        help="without --output-dir, write DIR/<model_version>/ and point DIR/latest at it (default: %(default)s)",
    )
    search = parser.add_mutually_exclusive_group()
    search.add_argument(
        "--search",
        metavar="GRID",
        help="grid-search the training rows first; GRID is JSON, e.g. '{\"hidden_layer_sizes\": [[8], [16]]}', "
        "or @FILE holding it",
    )
    search.add_argument("--search-file", type=Path, metavar="FILE", help="like --search @FILE")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines, only warnings and errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(quiet=args.quiet)
    try:
        grid: Grid | None = None
        if args.search is not None:
            grid = read_grid(args.search)
        elif args.search_file is not None:
            grid = read_grid_file(args.search_file)
        try:
            signing_key = SigningKeys.from_environment().current
        except ValueError as error:
            raise TrainingError(str(error)) from None
        config = TrainingConfig(
            preset=args.preset,
            seed=args.seed,
            cv_repeats=args.cv_repeats,
            grid=grid,
            target_sensitivity=args.target_sensitivity,
            signing_key=signing_key,
        )
        if args.output_dir is not None:
            result = train(config, args.output_dir)
        else:
            result = train_versioned(config, args.models_root)
    except TrainingError as error:
        print(f"wdbc-train: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("wdbc-train: interrupted", file=sys.stderr)
        return 130
    _print_result(result)
    return EXIT_OK


def _print_result(result: TrainingResult) -> None:
    if result.search is not None:
        print("grid search (best first)")
        print("\n".join(search_lines(result.search, markdown=False)))
        print()
    print(result.summary)
    print()
    print(f"model {result.manifest.model_version} written to {result.directory} in {result.seconds:.1f} s")


def _configure_logging(*, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {value}")
    return value


def _seed(text: str) -> int:
    value = _non_negative(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be <= {MAX_SEED}, got {value}")
    return value
