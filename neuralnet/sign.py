"""``python -m neuralnet.sign MODEL_DIR...``: sign model directories with ``MODEL_SIGNING_KEY``.

For directories trained without a key, and for key rotation: each directory is verified first (every hash, and,
when it is signed, its signature with ``MODEL_SIGNING_KEY`` or ``MODEL_SIGNING_KEY_PREVIOUS``), then its
``manifest.sig`` is replaced by one made with ``MODEL_SIGNING_KEY``. Exits 1 if any directory was refused.
"""

import sys
from collections.abc import Sequence
from pathlib import Path

from neuralnet.artifacts import SIGNATURE_FILE, SIGNING_KEY_ENV, ArtifactError, SigningKeys, sign_model_dir


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or any(arg.startswith("-") for arg in args):
        print("usage: MODEL_SIGNING_KEY=... python -m neuralnet.sign MODEL_DIR...", file=sys.stderr)
        return 2
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
