"""The floor plan holds: the order domain is pure, jobs/ never imports webhooks/, nothing outside tests/
imports tests/, and no module imports itself round a cycle (deferred imports inside functions count)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("plugin", "jobs", "webhooks", "bench", "tests")
INFRASTRUCTURE = ("flask", "werkzeug", "requests", "urllib3", "redis", "rq", "sqlalchemy")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Project modules that module `name` imports anywhere in its body (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in MODULES else base)
    return {t for t in targets if t in MODULES and t != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_order_domain_imports_no_web_http_redis_or_database():
    domain = sorted(name for name in MODULES if name == "plugin.orders" or name.startswith("plugin.orders."))
    assert len(domain) >= 4
    code = f"import sys; import {', '.join(domain)}; print(sorted({{m.split('.')[0] for m in sys.modules}}))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert not [package for package in INFRASTRUCTURE if f"'{package}'" in loaded], loaded


def test_jobs_never_import_webhooks():
    offenders = {
        name: sorted(t for t in targets if t.split(".")[0] == "webhooks")
        for name, targets in GRAPH.items()
        if name.split(".")[0] == "jobs"
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_nothing_outside_tests_imports_tests():
    offenders = {
        name: sorted(t for t in targets if t.split(".")[0] == "tests")
        for name, targets in GRAPH.items()
        if name.split(".")[0] != "tests"
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_no_import_cycles():
    cycles = _strongly_connected({name: targets for name, targets in GRAPH.items()})
    assert [sorted(c) for c in cycles if len(c) > 1] == []


def test_cycle_finder_finds_a_cycle():
    assert [sorted(c) for c in _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) if len(c) > 1] == [
        ["a", "b", "c"]
    ]


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative: the strongly connected components of graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
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
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components
