"""The domain stays pure: standard library and eventsourcing only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
FORBIDDEN = {
    "psycopg",
    "httpx",
    "fastapi",
    "sqlalchemy",
    "adapters",
    "api",
    "projections",
    "pydantic",
    "typer",
    "requests",
    "starlette",
}


def imported_top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_domain_imports_no_infrastructure() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in DOMAIN.glob("**/*.py")
        for name in imported_top_level_modules(path) & FORBIDDEN
    }
    assert not offenders


def test_the_domain_imports_only_the_standard_library_and_eventsourcing() -> None:
    allowed = set(sys.stdlib_module_names) | {"eventsourcing", "domain", "__future__"}
    others = {
        f"{path.name}: {name}"
        for path in DOMAIN.glob("**/*.py")
        for name in imported_top_level_modules(path) - allowed
    }
    assert not others


def test_the_import_check_would_catch_an_infrastructure_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from adapters.settings import Settings\nimport psycopg.rows\n")
    assert imported_top_level_modules(bad) & FORBIDDEN == {"adapters", "psycopg"}
