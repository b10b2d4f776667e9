"""The layer diagram of the design, checked on the source: no import cycle, no upward import.

Every ``import``/``from ... import`` of a pipesim module counts, at any depth (function-level
imports and ``TYPE_CHECKING`` blocks too), so a cycle cannot hide behind a late import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pipesim

ROOT = Path(pipesim.__file__).parent

# (importer, imported): prefixes of module names that must never be linked this way.
FORBIDDEN = [
    ("pipesim.sim", "pipesim.ideal"), ("pipesim.ideal", "pipesim.sim"),
    ("pipesim.schedule", "pipesim.ideal"), ("pipesim.schedule", "pipesim.sim"),
    ("pipesim.schedule", "pipesim.timeline"), ("pipesim.schedule", "pipesim.plan"),
    ("pipesim.timeline", "pipesim.ideal"), ("pipesim.timeline", "pipesim.sim"),
    ("pipesim.timeline", "pipesim.scenario"), ("pipesim.timeline", "pipesim.network"),
    ("pipesim.plot", "pipesim.ideal"), ("pipesim.plot", "pipesim.sim"), ("pipesim.plot", "pipesim.runner"),
    ("pipesim.export", "pipesim.ideal"), ("pipesim.export", "pipesim.sim"),
    ("pipesim.formulas", "pipesim.schedule.generators"), ("pipesim.formulas", "pipesim.ideal"),
    ("pipesim.network", "pipesim.sim"), ("pipesim.network", "pipesim.scenario"),
    ("pipesim.trace", "pipesim.timeline"), ("pipesim.units", "pipesim."),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        out: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            out.update(t for t in targets if t in modules and t != name)
        graph[name] = out
    return graph


def _is(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix if prefix.endswith(".") else prefix + ".")


def test_no_upward_imports():
    bad = [(a, b) for a, targets in import_graph().items() for b in targets
           for x, y in FORBIDDEN if _is(a, x) and _is(b, y)]
    assert bad == []


def test_no_import_cycles():
    graph = import_graph()
    # A package's __init__ re-exporting its own modules is not a cycle of the design.
    edges = {a: {b for b in bs if not _is(b, a)} for a, bs in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert cycles == []


def test_the_checker_sees_function_level_and_type_checking_imports():
    graph = import_graph()
    assert "pipesim.ideal" in graph["pipesim.plan"]  # a top-level import
    assert "pipesim.sim.engine" in graph["pipesim.runner"]  # imported inside a function
