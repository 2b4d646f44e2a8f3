"""The apps depend one way, and no module imports another that (through others) imports it.

Every product module is parsed with `ast`, imports inside functions included, so a late
import cannot hide a circle or a step up the layers.

String references are not Python imports and are not counted: `include("connections.urls")`
in config/urls.py, and the models' lazy foreign keys. Audience's `updated_by_run` and
`imported_by_run` point at "imports.ImportRun" that way on purpose: provenance only, without a
database constraint, and Django's collector still sets them to NULL when a run is deleted
(tests/audience/test_writers.py checks that). Kept rather than replaced: the pointer costs
no import, and dropping it would lose the provenance. Audience code never imports imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = (
    "common", "workspaces", "connections", "audience", "imports", "notifications", "api", "config",
)  # fmt: skip

# What each app may import besides itself. `common` (widgets, pagination, rate limits,
# validators, middleware) sits below everything and imports no app; `config`'s entry points
# (URLs, WSGI/ASGI, Celery) sit on top of everything, and no app imports config.
CONFIG_ENTRY_POINTS = {"config.urls", "config.wsgi", "config.asgi", "config.celery"}
ALLOWED = {
    "common": set(),
    "config": {"common"},
    "workspaces": {"common"},
    "audience": {"common", "workspaces"},
    "connections": {"common", "workspaces"},
    "imports": {"common", "workspaces", "audience", "connections"},
    "notifications": {"common", "workspaces", "audience", "connections", "imports"},
    "api": {"common", "workspaces", "audience", "connections", "imports"},
}
FORBIDDEN_EVERYWHERE = {"standins"}  # the test doubles of Google and friends


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _product_files() -> dict[str, Path]:
    return {_module_name(p): p for app in APPS for p in sorted((ROOT / app).rglob("*.py"))}


def _imported_names(path: Path, module: str) -> list[tuple[str, int]]:
    """Every dotted name the module imports (`from a import b` gives a.b and a), with lines."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return names


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module that `name` names or lies in (a.b.func lies in a.b)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    """Edges between product modules, and every (module, imported name, line) seen."""
    known = _product_files()
    edges: dict[str, set[str]] = {module: set() for module in known}
    seen: list[tuple[str, str, int]] = []
    for module, path in known.items():
        for name, line in _imported_names(path, module):
            seen.append((module, name, line))
            target = _resolve(name, known)
            # A package's own __init__ is not a dependency of its submodules.
            if target and target != module and not module.startswith(target + "."):
                edges[module].add(target)
    return edges, seen


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(edges):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_checker_sees_every_app_and_late_imports():
    edges, _ = _graph()
    assert {module.split(".")[0] for module in edges} == set(APPS)
    # Known edges: an import at module level, `from package import module`, and an import
    # written inside a function (AppConfig.ready).
    assert "imports.services" in edges["api.views.imports"]
    assert "imports.queue" in edges["imports.services"]
    assert "imports.signals" in edges["notifications.apps"]


def test_no_module_imports_itself_through_others():
    cycle = _find_cycle(_graph()[0])
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_apps_depend_one_way():
    edges, _ = _graph()
    wrong = []
    for module, targets in edges.items():
        app = module.split(".")[0]
        if module in CONFIG_ENTRY_POINTS:
            continue
        for target in sorted(targets):
            target_app = target.split(".")[0]
            if target_app != app and target_app not in ALLOWED[app]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_product_code_imports_the_standins():
    _, seen = _graph()
    wrong = [
        f"{module}:{line} imports {name}"
        for module, name, line in seen
        if name.split(".")[0] in FORBIDDEN_EVERYWHERE
    ]
    assert not wrong, "\n".join(wrong)
