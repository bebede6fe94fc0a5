"""``python -m neuralnet.verify MODEL_DIR``: check a model directory exactly as the service will load it.

Prints the model version and exits 0, or prints why the directory cannot be served and exits 1. With
``MODEL_SIGNING_KEY`` (and, during a rotation, ``MODEL_SIGNING_KEY_PREVIOUS``) in the environment the manifest's
signature is checked too, as the service does; without a key it says that the signature was not checked. The
trainer container runs it to decide whether the model volume already holds a model this code can serve.
"""

import sys
from collections.abc import Sequence
from pathlib import Path

from neuralnet.artifacts import SIGNING_KEY_ENV, ArtifactError, SigningKeys, load_inference_model, signature_status


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 1:
        print("usage: python -m neuralnet.verify MODEL_DIR", file=sys.stderr)
        return 2
    directory = Path(args[0])
    try:
        keys = SigningKeys.from_environment()
        manifest, _ = load_inference_model(directory, keys)
    except (ArtifactError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    status = signature_status(directory, keys)
    checked = "signature included"
    if status != "verified":
        checked = f"signature not checked ({status}: no {SIGNING_KEY_ENV})"
    print(f"{args[0]}: model {manifest.model_version} verified; {checked}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
