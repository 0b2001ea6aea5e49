"""Unit test: the package's import graph, read from the sources, keeps its floors.

A package imports from its own floor and the floors below it, never from one above; no two
modules import each other, however many steps apart; and nothing imports another package's
private module (one whose name begins with an underscore). Imports inside functions count: a
lazy import is an arrow all the same."""

import ast
from pathlib import Path

import pytest

from mlopsbench import cli

PACKAGE = Path(cli.__file__).resolve().parent
# Bottom to top. The base is the package's own plumbing; every experiment stands on it.
FLOORS = [
    {"(root)", "errors", "atomic", "checksums", "paths", "registry", "locks", "interrupts", "processes", "records",
     "rawdirs", "config"},
    {"data"},
    {"cluster"},
    {"store"},
    {"pipeline"},
    {"upload"},
    {"serving"},
    {"results"},
    {"progress", "reference", "dvcparams", "cli"},
]
FLOOR = {name: level for level, names in enumerate(FLOORS) for name in names}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("mlopsbench", *path.relative_to(PACKAGE).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports (a name imported from a package counts as its module
    where it is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module if not node.level else package
            if node.level:
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            if base and base.startswith("mlopsbench"):
                found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mlopsbench")}
    return found & set(known)


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) - {name} for name, path in known.items()}


def test_every_package_has_a_floor(graph):
    assert {package_of(m) for m in graph} <= set(FLOOR), "a new package needs its floor in FLOORS"


def test_no_arrow_climbs_to_a_floor_above(graph):
    upward = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                    if FLOOR[package_of(b)] > FLOOR[package_of(a)])
    assert not upward, upward


def test_no_module_imports_another_packages_private_module(graph):
    private = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                     if any(part.startswith("_") and part != "__init__" for part in b.split("."))
                     and package_of(a) != package_of(b))
    assert not private, private


def test_no_circle(graph):
    """Depth-first search for a module that reaches itself."""
    state, circles = {}, []

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                circles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, circles
