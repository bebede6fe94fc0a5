"""``python -m neuralnet.sign MODEL_DIR...``: sign model directories with ``MODEL_SIGNING_KEY``.

For directories trained without a key, and for key rotation: each directory is verified first (every hash, and,
when it is signed, its signature with ``MODEL_SIGNING_KEY`` or ``MODEL_SIGNING_KEY_PREVIOUS``), then its
``manifest.sig`` is replaced by one made with ``MODEL_SIGNING_KEY``. Exits 1 if any directory was refused.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from neuralnet.artifacts import (
    PREVIOUS_SIGNING_KEY_ENV,
    SIGNATURE_FILE,
    SIGNING_KEY_ENV,
    ArtifactError,
    SigningKeys,
    sign_model_dir,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m neuralnet.sign",
        description=f"Sign model directories with {SIGNING_KEY_ENV}: each is verified first (its hashes, and its "
        f"signature with {SIGNING_KEY_ENV} or {PREVIOUS_SIGNING_KEY_ENV} when it is signed), then its "
        f"{SIGNATURE_FILE} is made with {SIGNING_KEY_ENV}. Exit 1 if any directory was refused.",
    )
    parser.add_argument("model_dirs", nargs="+", metavar="MODEL_DIR", help="a model directory to sign")
    args: list[str] = [str(directory) for directory in parser.parse_args(argv).model_dirs]
    try:
        keys = SigningKeys.from_environment()
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if keys.current is None:
        print(f"{SIGNING_KEY_ENV} is not set: there is nothing to sign with", file=sys.stderr)
        return 2
    failed = False
    for name in args:
        directory = Path(name)
        # An unsigned directory is verified by its hashes alone; a signed one must also carry a signature we accept.
        accepted = keys.accepted if (directory / SIGNATURE_FILE).exists() else ()
        try:
            signer = sign_model_dir(directory, keys.current, accepted=accepted)
        except ArtifactError as error:
            print(f"{name}: not signed: {error}", file=sys.stderr)
            failed = True
            continue
        print(f"{name}: signed with key id {signer}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
