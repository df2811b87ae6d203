"""Checks the package layering anyone can rerun: ``python tools/check_layers.py`` (exit 1 on a breach).

Facts checked, over every import in the source tree (module level and inside functions alike):

- **Layers**: a package imports only the packages below it (:data:`ALLOWED`): ``workbench`` (the
  runtime) imports none of the others; ``metrics`` only ``workbench``; ``toyworld`` the runtime and
  the metrics; ``generators`` and ``attacks`` those three and never each other; ``apps`` (demos, and
  ``apps.studies``: experiments that use a generator and an attack together) anything below.
- **No circles**: the module import graph has no cycle (two modules that import each other, directly
  or through others), counted within and across packages.
- **Function-level imports of the project's own modules** are listed with ``--deferred``: they are for
  deferring heavy optional dependencies, never for hiding a circle (a circle is found either way).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("workbench", "metrics", "toyworld", "generators", "attacks", "apps")
ALLOWED: dict[str, set[str]] = {
    "workbench": set(),
    "metrics": {"workbench"},
    "toyworld": {"workbench", "metrics"},
    "generators": {"workbench", "metrics", "toyworld"},
    "attacks": {"workbench", "metrics", "toyworld"},
    "apps": {"workbench", "metrics", "toyworld", "generators", "attacks"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(known: dict[str, Path]) -> list[tuple[str, str, int, bool]]:
    """``(importer, imported module, line, deferred)`` for every import of a project module."""
    edges = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        deferred_nodes = {
            id(n)
            for fn in ast.walk(tree)
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
            for n in ast.walk(fn)
        }
        type_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for n in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, path, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            for target in targets:
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges.append((module, target, node.lineno, id(node) in deferred_nodes))
    return edges


def layer_breaches(edges) -> list[str]:
    out = []
    for src, dst, line, _ in edges:
        a, b = src.split(".")[0], dst.split(".")[0]
        if a != b and b not in ALLOWED[a]:
            out.append(f"{src}:{line} imports {dst} ({a} -> {b} is not allowed)")
    return out


def circles(edges) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for src, dst, _, _ in edges:
        graph[src].add(dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for start in sorted(set(graph) | {d for s in graph.values() for d in s}):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def is_package_init_edge(src: str, dst: str, known: dict[str, Path]) -> bool:
    """``pkg/__init__.py`` re-exporting its own submodules (and they importing siblings through it) is
    how a package presents its API; such parent <-> child edges are not circles between features."""
    return dst.startswith(src + ".") and known[src].name == "__init__.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--deferred", action="store_true", help="list function-level imports of project modules"
    )
    args = parser.parse_args(argv)
    known = modules()
    edges = imports(known)
    breaches = layer_breaches(edges)
    loops = circles([e for e in edges if not is_package_init_edge(e[0], e[1], known)])
    for line in breaches:
        print("layer:", line)
    for loop in loops:
        print("circle:", " <-> ".join(loop))
    deferred = [e for e in edges if e[3]]
    if args.deferred:
        for src, dst, line, _ in deferred:
            print(f"deferred: {src}:{line} -> {dst}")
    print(
        f"{len(known)} modules, {len(edges)} imports ({len(deferred)} function-level); "
        f"{len(breaches)} layer breaches, {len(loops)} circles"
    )
    return 1 if breaches or loops else 0


if __name__ == "__main__":
    sys.exit(main())
