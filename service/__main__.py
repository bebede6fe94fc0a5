"""``python -m service`` / ``wdbc-serve``: run the service (uvicorn with limits and a graceful shutdown)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from service.logging_config import configure_logging
from service.server.runner import serve
from service.settings import SettingsError, read_settings


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
    try:
        settings = read_settings(**({"model_dir": args.model_dir} if args.model_dir is not None else {}))
    except SettingsError as error:
        for line in error.lines:
            sys.stderr.write(f"wdbc-serve: error: {line}\n")
        return 2
    configure_logging(settings.log_level)
    return serve(settings, host=args.host, port=args.port, workers=args.workers)


if __name__ == "__main__":
    raise SystemExit(main())
