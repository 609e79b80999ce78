"""The package's layers: imports only go downward, and no module imports itself back.

The order is drawn in ``docs/architecture.md``. Imports inside ``if TYPE_CHECKING:`` are
for annotations only and not counted. The one upward import allowed is the facade:
`Pipeline.map`, ``.map_async``, ``.submit``, ``.plan``, ``.run`` and ``.shapes`` import the engine or the
submission layer inside the method, when called; ``Pipeline.visualize`` and
``Run.report`` / ``Run.plot_timeline`` import the report layer the same way.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hpcflow"

# lowest first; a module may import its own layer and any layer below it
LAYERS = [
    ("base", ["hpcflow.errors", "hpcflow._atomic", "hpcflow._warn"]),
    ("spec", ["hpcflow.spec"]),
    ("storage", ["hpcflow.storage"]),
    ("plan", ["hpcflow.plan"]),
    ("runfolder", ["hpcflow.runfolder"]),
    ("element", ["hpcflow.element"]),
    ("schedulers", ["hpcflow.schedulers"]),
    ("submission", ["hpcflow.submission"]),
    ("report", ["hpcflow.report"]),
    ("testing", ["hpcflow.testing"]),
    (
        "entry",
        [
            "hpcflow.map",
            "hpcflow.cli",
            "hpcflow.worker",
            "hpcflow.followup",
            "hpcflow.adaptive",
            "hpcflow",
        ],
    ),
]
# schedulers know nothing of pipelines, storage or run folders (spec and errors only)
SCHEDULERS_MAY_IMPORT = {"base", "spec", "schedulers"}
FACADE = {
    ("hpcflow.spec.pipeline", m)
    for m in ("map", "map_async", "submit", "plan", "run", "shapes", "visualize")
}
# Run.report() and Run.plot_timeline() import the report layer, above submission, when called
FACADE |= {("hpcflow.submission.handle", m) for m in ("report", "plot_timeline")}


def _layer(module: str) -> int:
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (
                best is None or len(p) > len(best[1])
            ):
                best = (rank, p)
    assert best is not None, f"{module} is in no layer; add it to LAYERS"
    return best[0]


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path) -> list[tuple[str, str | None, bool]]:
    """(imported module, enclosing function or None, inside a function body)."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, str | None, bool]] = []

    def visit(node: ast.AST, func: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Import):
                found.extend((a.name, func, func is not None) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, func, func is not None))
            visit(child, func)

    visit(tree, None)
    return [f for f in found if f[0] == "hpcflow" or f[0].startswith("hpcflow.")]


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_go_downward(module: str) -> None:
    mine = _layer(module)
    for target, func, _ in _imports(MODULES[module]):
        if target == "hpcflow" and module.startswith("hpcflow."):
            raise AssertionError(f"{module} imports the top-level package; import the module")
        if (module, func) in FACADE:
            continue
        theirs = _layer(target)
        assert theirs <= mine, (
            f"{module} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]}), a higher layer"
        )
        if LAYERS[mine][0] == "schedulers":
            assert LAYERS[theirs][0] in SCHEDULERS_MAY_IMPORT, f"{module} imports {target}"


def test_no_import_cycles_at_module_level() -> None:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        deps = set()
        for target, _, lazy in _imports(path):
            if lazy:
                continue
            # "from hpcflow.x import y" may name a submodule y or a name in x
            deps.add(target if target in MODULES else target.rsplit(".", 1)[0])
        graph[module] = {d for d in deps if d in MODULES and d != module}
    # a package's __init__ re-exporting its own modules is not a cycle of responsibilities
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e:
        raise AssertionError(f"import cycle: {' -> '.join(e.args[1])}") from None


def test_the_layer_table_knows_every_module() -> None:
    for module in MODULES:
        _layer(module)
