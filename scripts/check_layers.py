"""Report import circles and upward arrows among the project's modules (docs/architecture.md).

Usage: python scripts/check_layers.py   (prints nothing when the layout holds; exit 1 otherwise)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOTS = {"photond": "daemon", "photon_drivers": "drivers", "photon_sdk": "sdk"}
ROOTS["photon_bench"] = "benchmarks"
# photond's folders, top to bottom: a module may import from its own folder or one below.
LAYERS = (
    "photond.service",
    "photond.rpc",
    "photond.security",
    "photond.loop",
    "photond.jobs",
    "photond.wire",
    "photond.planning",
    "photond.model",
)


def modules() -> dict[str, Path]:
    found = {}
    for package, base in ROOTS.items():
        for path in Path(base, package).rglob("*.py"):
            if "_pb2" in path.name:
                continue
            name = ".".join(path.relative_to(base).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def import_graph(found: dict[str, Path]) -> dict[str, set[str]]:
    """Every import (TYPE_CHECKING ones too: a circle of types is still a circle)."""
    graph: dict[str, set[str]] = {}
    for name, path in found.items():
        deps: set[str] = set()
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or node.level):
                # `from .x import y` inside package p is `p.x`: relative imports count too.
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                names = [f"{module}.{a.name}" for a in node.names]
                # `from . import x` names the submodule x, not the package.
                submodules = [n for n in names if n in found]
                targets = submodules if submodules and not node.module else [module, *names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            deps.update(t for t in targets if t in found and t != name)
        graph[name] = deps
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def layer(module: str) -> int | None:
    for k, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return k
    return None


def main() -> int:
    graph = import_graph(modules())
    problems = [f"circle: {' -> '.join(c)}" for c in circles(graph)]
    for v, deps in sorted(graph.items()):
        for w in sorted(deps):
            a, b = layer(v), layer(w)
            if a is not None and b is not None and b < a:
                problems.append(f"upward: {v} -> {w}")
    print("\n".join(problems), end="\n" if problems else "")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
