"""One name per concept: no two modules of the project's packages define a class of the same name (a reader,
or an import, would take one for the other)."""

import ast
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("neuralnet", "training", "service")


def classes_defined_twice(root: Path, packages: Iterable[str]) -> dict[str, list[str]]:
    """Each module-level class name defined in more than one module -> those modules' paths."""
    where: defaultdict[str, list[str]] = defaultdict(list)
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.ClassDef):
                    where[node.name].append(str(path.relative_to(root)))
    return {name: paths for name, paths in where.items() if len(paths) > 1}


def test_no_class_name_is_defined_twice() -> None:
    assert classes_defined_twice(ROOT, PACKAGES) == {}


def test_a_planted_second_definition_is_found(tmp_path: Path) -> None:
    for module, source in {"core/a.py": "class Model: ...\n", "app/b.py": "class Model(Protocol): ...\n"}.items():
        (tmp_path / module).parent.mkdir(exist_ok=True)
        (tmp_path / module).write_text(source)
    assert classes_defined_twice(tmp_path, ("core", "app")) == {"Model": ["core/a.py", "app/b.py"]}
