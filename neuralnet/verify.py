"""``python -m neuralnet.verify MODEL_DIR``: check a model directory exactly as the service will load it.

Prints the model version and exits 0 (with a warning for each report file that changed: those do not affect
the model), or prints why the directory cannot be served and exits 1 (2 for a wrong command line). With
``MODEL_SIGNING_KEY`` (and, during a rotation, ``MODEL_SIGNING_KEY_PREVIOUS``) in the environment the
manifest's signature is checked too, as the service does; without a key it says that the signature was not
checked. The trainer container runs it to decide whether the model volume already holds a model this code
can serve.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from neuralnet.artifacts import (
    SIGNING_KEY_ENV,
    ArtifactError,
    SigningKeys,
    load_inference_model,
    report_file_problems,
    signature_status,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m neuralnet.verify",
        description="Check a model directory exactly as the service will load it: every file's hash, the "
        f"manifest, its signature when {SIGNING_KEY_ENV} is set, the model's shapes. Exit 0 when it can be "
        "served, 1 when not (saying why).",
    )
    parser.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="the model directory to check")
    directory: Path = parser.parse_args(argv).model_dir
    try:
        keys = SigningKeys.from_environment()
        manifest, _ = load_inference_model(directory, keys)
    except (ArtifactError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    for problem in report_file_problems(directory, manifest):
        print(f"warning: {problem}", file=sys.stderr)
    status = signature_status(directory, keys)
    checked = "signature included"
    if status != "verified":
        checked = f"signature not checked ({status}: no {SIGNING_KEY_ENV})"
    print(f"{directory}: model {manifest.model_version} verified; {checked}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
