"""Print requirements from pyproject.toml, one a line, for ``pip install -r``. The image builds use it to
install the dependencies in a layer of their own, before the code is copied in.

    python3 pyproject_requirements.py pyproject.toml build base,service

Groups (separated by spaces or commas; empty ones are ignored): ``build`` is [build-system] requires, ``base``
is [project] dependencies, any other name is that optional extra. An extra naming the project itself
(``wdbc-diagnosis[service,plots]``) is expanded in place.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9._-]+)\s*(?:\[(?P<extras>[^\]]*)\])?")


def requirements(pyproject: Mapping[str, Any], groups: Sequence[str]) -> list[str]:
    project = pyproject["project"]
    sources: dict[str, list[str]] = {
        **project.get("optional-dependencies", {}),
        "build": pyproject.get("build-system", {}).get("requires", []),
        "base": project.get("dependencies", []),
    }
    found: list[str] = []
    pending, seen = list(groups), set()
    while pending:
        group = pending.pop(0)
        if group in seen:
            continue
        if group not in sources:
            raise SystemExit(f"unknown group {group!r}; known: {', '.join(sorted(sources))}")
        seen.add(group)
        for line in sources[group]:
            match = _REQUIREMENT.match(line)
            if match and _normalise(match["name"]) == _normalise(project["name"]):
                pending += ["base", *_split(match["extras"] or "")]
            elif line not in found:
                found.append(line)
    return found


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split(text: str) -> list[str]:
    return [word for word in re.split(r"[\s,]+", text) if word]


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write(__doc__ or "")
        return 2
    pyproject = tomllib.loads(Path(argv[0]).read_text(encoding="utf-8"))
    groups = [group for arg in argv[1:] for group in _split(arg)]
    sys.stdout.write("".join(f"{line}\n" for line in requirements(pyproject, groups)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
