"""``python -m neuralnet.rollback MODELS_ROOT [VERSION]``: point ``latest`` back at an earlier model version.

Without VERSION, the version trained just before the one ``latest`` names (by the manifests' ``created_at``).
The target is verified exactly as the service will load it before the link moves (atomically); then running
services follow as they follow any move of ``latest``: on their own with ``MODEL_WATCH_SECONDS`` set, else on
SIGHUP or ``POST /v2/repository/models/<name>/load``. Prints ``latest: OLD -> NEW`` and exits 0, or says why
not and exits 1.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from neuralnet.artifacts import LATEST_LINK, ArtifactError, load_inference_model, point_latest_at, read_manifest


def previous_version(models_root: Path, current: Path) -> Path | None:
    """The newest version directory created before ``current``, or None."""
    created = read_manifest(current).created_at
    earlier = []
    for child in models_root.iterdir():
        if child.name == LATEST_LINK or child.name.startswith(".") or child.is_symlink() or child == current:
            continue
        try:
            other = read_manifest(child).created_at
        except ArtifactError:
            continue
        if other < created:
            earlier.append((other, child.name, child))
    return max(earlier)[2] if earlier else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m neuralnet.rollback",
        description=f"Point MODELS_ROOT/{LATEST_LINK} back at the version trained before the one it names (or at "
        "VERSION), after verifying it as the service will load it. Running services follow as they follow any "
        "move of the link. Exit 0 when it moved, 1 when not (saying why).",
    )
    parser.add_argument("models_root", type=Path, metavar="MODELS_ROOT", help="the folder of model versions")
    parser.add_argument("version", nargs="?", metavar="VERSION", help="a version directory in it")
    args = parser.parse_args(argv)
    root: Path = args.models_root
    version: str | None = args.version
    link = root / LATEST_LINK
    try:
        current = link.resolve(strict=True)
        if version is not None:
            target = root / version
            if Path(version).name != version or not target.is_dir() or target.is_symlink():
                print(f"{root} has no model version {version!r}", file=sys.stderr)
                return 1
        else:
            found = previous_version(root, current)
            if found is None:
                print(f"{root} holds no version older than {current.name}", file=sys.stderr)
                return 1
            target = found
        load_inference_model(target)
    except (OSError, ArtifactError) as error:
        print(f"not rolled back: {error}", file=sys.stderr)
        return 1
    point_latest_at(root, target)
    print(f"latest: {current.name} -> {target.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
