"""The CLI package's modules depend on each other in one direction only, and the lower
layers (projections, adapters) never reach up into the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "api" / "cli"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, imported inside a function?) for every absolute import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, bool]] = []

    def walk(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((a.name, nested) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                names = [f"{child.module}.{a.name}" for a in child.names]
                found.extend((n, nested) for n in [child.module, *names])
            walk(child, inner)

    walk(tree, False)
    return found


def _cli_graph() -> dict[str, set[str]]:
    modules = {p.stem for p in CLI.glob("*.py") if p.stem not in {"__init__", "__main__"}}
    return {
        m: {n.split(".")[2] for n, _ in _imports(CLI / f"{m}.py") if n.startswith("api.cli.")}
        & modules
        for m in modules
    }


def test_the_cli_modules_import_each_other_without_a_cycle() -> None:
    graph = _cli_graph()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for dep in graph[module]:
            visit(dep, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())
    assert graph["orders"] and "orders" in graph["jobs"]  # the check sees real edges


def test_no_cli_module_imports_the_cli_package_itself_or_inside_a_function() -> None:
    offenders = [
        f"{p.name}: {name}"
        for p in CLI.glob("*.py")
        if p.stem not in {"__init__", "__main__"}
        for name, nested in _imports(p)
        if (name == "api.cli" or (nested and name.startswith("api.cli")))
    ]
    assert not offenders


def test_projections_and_adapters_never_import_the_api() -> None:
    offenders = [
        f"{p.relative_to(ROOT)}: {name}"
        for package in ("projections", "adapters")
        for p in (ROOT / package).glob("**/*.py")
        for name, _ in _imports(p)
        if name.split(".")[0] == "api" or (package == "projections" and name.startswith("adapters"))
    ]
    assert not offenders
    assert not (ROOT / "projections" / "__main__.py").exists()
    assert not (ROOT / "adapters" / "writeback" / "__main__.py").exists()
