"""No import cycles among our modules: every import counts, lazy and TYPE_CHECKING ones too.

A cycle is found by reading the source (no import is run): each ``import`` / ``from``
statement anywhere in a module is an edge to the module it names (``from pkg import sub``
is an edge to ``pkg.sub`` when that is a module, else to ``pkg``). Any strongly connected
set of more than one module is a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("functions", "local_emulator", "sandbox_images/toolserver/toolserver")


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def collect() -> dict[str, tuple[Path, bool]]:
    """module -> (file, is a package)"""
    found = {}
    for package in PACKAGES:
        top = ROOT / package
        base = top.parent
        for path in top.rglob("*.py"):
            found[module_name(path, base)] = (path, path.name == "__init__.py")
    return found


def edges(modules: dict[str, tuple[Path, bool]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    origin = ".".join([*anchor, *([node.module] if node.module else [])])
                else:
                    origin = node.module or ""
                for alias in node.names:
                    sub = f"{origin}.{alias.name}"
                    targets.append(sub if sub in modules else origin)
            for target in targets:
                while target and target not in modules:  # `import a.b.c` of a package a.b
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_lazy_and_relative_imports():
    graph = edges(collect())
    # runtime/app.py imports the server inside AgentApp.run()
    assert "functions.runtime.server" in graph["functions.runtime.app"]
    assert "functions.runtime.sandbox.errors" in graph["functions.runtime.sandbox.client"]


def test_no_module_takes_part_in_an_import_cycle():
    assert cycles(edges(collect())) == []
