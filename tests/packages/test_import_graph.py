"""Imports run one way: no module of the project's packages imports, directly or through others, itself.

The graph is read from the source with ``ast`` (so imports under ``if TYPE_CHECKING:`` and inside functions
count too: a circle there is still a circle for the reader).
"""

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("neuralnet", "training", "service")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    """Each module of ``packages`` under ``root`` -> the modules of ``packages`` it imports."""
    files = {module_name(path, root): path for package in packages for path in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                source = ".".join(part for part in (base, node.module or "") if part)
                # ``from package import module`` imports the module; ``from module import name``, the module.
                targets.update(
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in files else source for alias in node.names
                )
        graph[name] = {target for target in targets if target in files and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_packages_have_no_import_circle() -> None:
    graph = import_graph(ROOT, PACKAGES)
    assert len(graph) > 40  # the walk found the modules
    assert cycles(graph) == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {
                "a.py": "from pkg import b\n",
                "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n",
            },
            [["pkg.a", "pkg.b"]],
            id="type-checking-import",
        ),
        pytest.param(
            {"a.py": "from .b import f\n", "b.py": "def f():\n    from .c import g\n", "c.py": "from pkg.a import h\n"},
            [["pkg.a", "pkg.b", "pkg.c"]],
            id="relative-and-function-level-imports",
        ),
        pytest.param({"a.py": "from pkg.b import f\n", "b.py": "import os\n"}, [], id="one-way"),
    ],
)
def test_a_planted_circle_is_found(tmp_path: Path, files: dict[str, str], expected: list[list[str]]) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    for name, source in files.items():
        (tmp_path / "pkg" / name).write_text(source)
    assert cycles(import_graph(tmp_path, ["pkg"])) == expected


def private_imports(root: Path, directories: Iterable[str]) -> list[str]:
    """``from module import _name`` anywhere under ``directories``: a private name used from another module."""
    found = []
    for directory in directories:
        for path in sorted((root / directory).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                    found += [
                        f"{path.relative_to(root)}:{node.lineno} {alias.name}"
                        for alias in node.names
                        if alias.name.startswith("_") and not alias.name.startswith("__")
                    ]
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    """Ruff's SLF001 catches ``module._name``; this catches ``from module import _name``."""
    assert private_imports(ROOT, (*PACKAGES, "tests", "benchmarks")) == []


def test_a_planted_private_import_is_found(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("from pkg.b import _helper, public\n")
    assert private_imports(tmp_path, ["pkg"]) == ["pkg/a.py:1 _helper"]
