"""The layout holds: no import cycle, no import up a floor, no module over 450 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lgaudit"
MAX_LINES = 450

#: floors, lowest first: a module may import its own floor and the floors below it. A module
#: belongs to the floor of the longest prefix that names it (``lgaudit.store.store`` is on the
#: read API's floor, ``lgaudit.store.engine`` on the database's).
FLOORS: list[tuple[str, ...]] = [
    ("lgaudit.errors", "lgaudit.lazy", "lgaudit.suitefile"),
    # the database: engine, tables, typed rows, migrations, blobs, liveness locks
    (
        "lgaudit.migrations",
        "lgaudit.store.engine",
        "lgaudit.store.tables",
        "lgaudit.store.schema",
        "lgaudit.store.records",
        "lgaudit.store.blobs",
        "lgaudit.store.liveness",
        "lgaudit.store.migrate",
    ),
    ("lgaudit.codec",),
    ("lgaudit.log",),
    # the read API: Store, its queries and views
    ("lgaudit.store",),
    ("lgaudit.checkpointer", "lgaudit.control", "lgaudit.events"),
    # stage results, sign-offs and the promotion question, over the read API
    ("lgaudit.review",),
    ("lgaudit.history",),
    ("lgaudit.audit",),
    ("lgaudit.recorder",),
    # OpenTelemetry export, LangSmith / Langfuse import: over the store and the recorder
    ("lgaudit.interop",),
    ("lgaudit.replay",),
    ("lgaudit.stage",),
    ("lgaudit",),  # the public API and the demo
    ("lgaudit.cli", "lgaudit.ui"),  # the command line and the review console, side by side
]

#: imports allowed up a floor: re-exports that keep old import paths working
REEXPORTS = {("lgaudit.store", "lgaudit.checkpointer.saver")}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every lgaudit module ``path`` imports, anywhere in it (lazy and type-only too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {name for name in out if name in modules}


def _floor(module: str) -> int:
    best, floor = -1, -1
    for level, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, floor = len(prefix), level
    assert floor >= 0, f"{module} is on no floor: add it to FLOORS"
    return floor


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def test_no_import_cycle() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_import_up_a_floor() -> None:
    upward = [
        f"{module} (floor {_floor(module)}) imports {dep} (floor {_floor(dep)})"
        for module, deps in sorted(_graph().items())
        for dep in sorted(deps)
        if _floor(dep) > _floor(module) and (module, dep) not in REEXPORTS
    ]
    assert upward == []


def test_no_module_over_450_lines() -> None:
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
