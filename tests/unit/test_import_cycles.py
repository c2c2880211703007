"""No import cycle inside ``pipeline/``, ``schemas/`` and ``engines/``, and the layers of
docs/ARCHITECTURE.md (Packages) hold: dependencies point one way.

The graph is built from the source with ``ast``: every import (module level, inside functions,
under ``TYPE_CHECKING``) that names a module of this repository, resolved to that module (``from
pkg import sub`` is an edge to ``pkg.sub`` when it is a module, else to ``pkg``). The workbench
(``pipeline/devtools``) is held to "no cycle" too, but not to the layers: it may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "schemas", "engines")
WORKBENCH = "pipeline/devtools"


def _modules(workbench: bool = False) -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if not workbench and rel.as_posix().startswith(f"{WORKBENCH}/"):
                continue
            parts = rel.with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            targets.update(t for t in (_resolve(n, modules) for n in names) if t and t != module)
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_graph_sees_the_imports_it_must():
    """The walk is not vacuous: module-level, function-level and ``from pkg import sub`` edges."""
    graph = import_graph(_modules())
    assert "pipeline.http.metrics" in graph["pipeline.http.routes"]  # imported inside the /metrics route
    assert "schemas.registry" in graph["schemas.codec"]  # imported inside create_codec
    assert "pipeline.http.hf_api" in graph["pipeline.http.app"]  # from pipeline.http import hf_api


def test_a_cycle_is_found_and_printed():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(import_graph(_modules(workbench=True)))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


#: (importer prefix, imported prefixes it must never reach), from docs/ARCHITECTURE.md (Packages).
NEVER = [
    ("engines", ("pipeline", "schemas")),
    ("schemas", ("pipeline",)),
    ("pipeline.redact", ("pipeline.service", "pipeline.http", "pipeline.kafka", "engines")),  # spans only
    ("pipeline.http", ("pipeline.kafka", "pipeline.cli")),
    ("pipeline.kafka", ("pipeline.http", "pipeline.cli")),
]
#: The front doors and tools; every other ``pipeline`` module is the core they share.
FRONT_DOORS = ("pipeline.http", "pipeline.kafka", "pipeline.cli")


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_dependencies_point_one_way():
    graph = import_graph(_modules())
    wrong = {f"{m} -> {t}" for prefix, banned in NEVER for m, targets in graph.items() if _within(m, prefix)
             for t in targets if any(_within(t, b) for b in banned)}
    core = [m for m in graph if _within(m, "pipeline") and not any(_within(m, d) for d in FRONT_DOORS)]
    wrong |= {f"{m} -> {t}" for m in core for t in graph[m] if any(_within(t, d) for d in FRONT_DOORS)}
    assert not wrong, "imports against the layers: " + "; ".join(sorted(wrong))
