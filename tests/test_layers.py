"""Imports flow one way (docs/design.md, "Layers"): no module imports a layer above its own, and the report
layer, the records and the statistics import no torch, directly or through another liftlab module. Checked
by parsing the sources, so a function-level import counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "liftlab"
LAYERS = {
    # the bottom: no liftlab package above them
    "__init__": 0, "config": 0, "errors": 0, "io": 0, "progress": 0, "stats": 0, "records": 0, "redaction": 0,
    "data": 1, "models": 1, "augment": 1,
    "train": 2,
    "strategies": 3,
    # the four packages of one row, in the order they may import each other
    "report": 4.0, "evaluate": 4.1, "diagnose": 4.2, "experiments": 4.3,
    "cli": 5, "__main__": 5,
}  # fmt: skip


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
    return found


def _layer(module: str) -> float:
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "__init__"
    assert name in LAYERS, f"{module}: a new top-level module; give it a layer in tests/test_layers.py and the design"
    return LAYERS[name]


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module(path)
        for imported, line in _imports(path):
            liftlab_module = imported.startswith("liftlab.") or imported == "liftlab"
            if liftlab_module and _layer(imported) > _layer(module):
                upward.append(f"{module}:{line} imports {imported}")
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_the_report_layer_and_the_records_import_no_torch_even_through_other_modules() -> None:
    graph = {_module(path): _imports(path) for path in PACKAGE.rglob("*.py")}

    def torch_path(module: str, seen: set[str]) -> list[str] | None:
        for imported, _ in graph.get(module, []):
            if imported.split(".")[0] in ("torch", "torchvision"):
                return [module, imported]
            if imported.startswith("liftlab") and imported not in seen:
                seen.add(imported)
                # `from liftlab.x import y` may name a module or an object of liftlab.x
                for candidate in (imported, imported.rsplit(".", 1)[0]):
                    if candidate in graph:
                        rest = torch_path(candidate, seen)
                        if rest:
                            return [module, *rest]
        return None

    reports = [m for m in graph if m.startswith("liftlab.report") or m in ("liftlab.records", "liftlab.stats")]
    assert "liftlab.records" in reports and len(reports) > 2
    for module in reports:
        chain = torch_path(module, set())
        assert chain is None, " -> ".join(chain or [])


def _top_level_imports(path: Path) -> set[str]:
    """The liftlab modules `path` imports when it is imported (module-level statements only; a function's
    import runs later), each with the packages above it, whose `__init__` runs first."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:  # `from package import module` imports the module
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            found |= {".".join(parts[:i]) for i in range(2, len(parts) + 1) if parts[0] == "liftlab"}
    return found


def test_no_import_cycle_at_module_level() -> None:
    # a cycle works or fails depending on which module is imported first: `liftlab diagnose` once failed with
    # "partially initialized module" while every test that imported `improve` first passed
    modules = {_module(path): path for path in PACKAGE.rglob("*.py")}

    # a module's own packages are initialising when it runs: importing them back hands over what they hold so far
    # (every package's __init__ imports its own modules), so those edges are left out
    def own_package(module: str, other: str) -> bool:
        return module == other or module.startswith(other + ".")

    graph = {
        name: sorted(m for m in _top_level_imports(path) if m in modules and not own_package(name, m))
        for name, path in modules.items()
    }
    state: dict[str, str] = {}

    def cycle_from(module: str, trail: list[str]) -> list[str] | None:
        state[module] = "open"
        for imported in graph[module]:
            if state.get(imported) == "open":
                return [*trail[trail.index(imported) :], imported] if imported in trail else [module, imported]
            if imported not in state:
                found = cycle_from(imported, [*trail, imported])
                if found:
                    return found
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = cycle_from(module, [module])
            assert cycle is None, "import cycle: " + " -> ".join(cycle)
