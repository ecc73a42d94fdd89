"""The package graph of ``src/taskloader``: no import cycles, dependencies one way, and
``Settings`` read only at the edge (the CLI and the engines).

Imports are read from the source with :mod:`ast`, including those under ``TYPE_CHECKING`` and
inside functions: a cycle hidden behind a lazy import is still a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = SRC / "taskloader"

#: Layers from the edge (0) to the core; a package may import only its own layer or lower ones
#: (higher numbers). Packages in one layer may not import each other.
LAYERS: dict[str, int] = {
    "__main__": -1,
    "cli": 0,
    "run": 1,
    "emulator": 2,
    "checks": 3,
    "ledger": 3,
    "mapping": 4,
    "templates": 5,
    "input": 5,
    "storage": 6,
    "connect": 6,
    "aws": 7,
    "settings": 7,
    "logs": 7,
    "errors": 8,
    "examples": 8,
    "__init__": 8,
}

#: The only modules that may import ``taskloader.settings``: the CLI and the engines.
SETTINGS_READERS = (
    "cli.",
    "run.pipeline",
    "run.engine",
    "run.contacts",
    "run.dryrun",
    "run.demo",
    "run.options",
    "__main__",
)


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The taskloader modules ``name`` imports (a package's ``__init__`` for a package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            if target in known:
                yield target
                if target != base:
                    break


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: set(imports(name, path, known)) - {name} for name, path in mods.items()}


def top(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_package_has_a_layer_and_a_docstring() -> None:
    for name, path in modules().items():
        assert top(name) in LAYERS, f"{name}: add its package to LAYERS"
        if path.name == "__init__.py":
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
            assert doc and doc.strip(), f"{name}: a package needs a one-line docstring"


def test_no_import_cycles() -> None:
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_dependencies_run_from_the_edge_to_the_core() -> None:
    wrong = []
    for name, targets in graph().items():
        here = top(name)
        for target in targets:
            there = top(target)
            if there == here or target == "taskloader":
                continue
            if LAYERS[there] <= LAYERS[here]:
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_settings_are_read_only_at_the_edge() -> None:
    readers = sorted(
        name
        for name, targets in graph().items()
        if "taskloader.settings" in targets
        and not name.removeprefix("taskloader.").startswith(SETTINGS_READERS)
    )
    assert not readers, f"below the engines, take small options instead of Settings: {readers}"


def test_modules_stay_small() -> None:
    big = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not big, f"modules over 400 lines: {big}"


def test_the_checker_sees_a_cycle(tmp_path: Path) -> None:
    """The graph reader itself: a lazy import inside a function is an edge."""
    source = "def f():\n    from taskloader.errors import UsageError\n"
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = set(imports("taskloader.probe", path, {"taskloader.errors"}))
    assert found == {"taskloader.errors"}
