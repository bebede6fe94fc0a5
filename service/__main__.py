"""``python -m service`` / ``wdbc-serve``: run the service with uvicorn."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from service.logging_config import configure_logging
from service.metrics import MULTIPROC_ENV
from service.rest.app import create_app
from service.settings import Settings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="wdbc-serve", description="Serve the breast-cancer diagnosis model.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: %(default)s)")
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="model directory (default: $MODEL_DIR or models/latest)"
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(model_dir=args.model_dir) if args.model_dir is not None else Settings()
    configure_logging(settings.log_level)
    common = {"host": args.host, "port": args.port, "log_config": None, "access_log": False}
    if args.workers == 1:
        uvicorn.run(create_app(settings), **common)
        return 0
    # Worker processes rebuild the settings from the environment, so pass the command line on through it,
    # and aggregate their metrics through prometheus-client's multiprocess mode.
    os.environ["MODEL_DIR"] = str(settings.model_dir)
    if not os.environ.get(MULTIPROC_ENV):
        directory = tempfile.mkdtemp(prefix="wdbc-metrics-")
        os.environ[MULTIPROC_ENV] = directory
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    uvicorn.run("service.rest.app:create_app_from_env", factory=True, workers=args.workers, **common)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
