"""``python -m neuralnet.verify MODEL_DIR``: check a model directory exactly as the service will load it.

Prints the model version and exits 0, or prints why the directory cannot be served and exits 1. The
trainer container runs it to decide whether the model volume already holds a model this code can serve.
"""

import sys
from collections.abc import Sequence
from pathlib import Path

from neuralnet.artifacts import ArtifactError, load_inference_model


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 1:
        print("usage: python -m neuralnet.verify MODEL_DIR", file=sys.stderr)
        return 2
    try:
        manifest, _ = load_inference_model(Path(args[0]))
    except ArtifactError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{args[0]}: model {manifest.model_version} verified")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
