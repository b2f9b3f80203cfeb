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


# Allowed directions between floorledger's packages: projections → domain;
# adapters → projections, domain; api → anything. The domain imports none of them.
ROOT = DOMAIN.parent
NOT_ALLOWED = {
    "domain": {"projections", "adapters", "api"},
    "projections": {"adapters", "api"},
    "adapters": {"api"},
}


def imports_with_lines(path: Path) -> list[tuple[int, str]]:
    """Every absolute import in a module, at any depth (function-local ones too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def layering_violations(root: Path) -> list[str]:
    """``file:line imports module`` for each import against the allowed directions."""
    out: list[str] = []
    for package, forbidden in NOT_ALLOWED.items():
        for path in sorted((root / package).glob("**/*.py")):
            for line, module in imports_with_lines(path):
                if module.split(".")[0] in forbidden:
                    out.append(f"{path.relative_to(root)}:{line} imports {module}")
    return out


def test_no_package_imports_against_the_allowed_directions() -> None:
    assert layering_violations(ROOT) == []


def test_the_layering_check_catches_a_function_local_import_into_a_forbidden_package(
    tmp_path: Path,
) -> None:
    for package in ("domain", "projections", "adapters"):
        (tmp_path / package).mkdir()
    (tmp_path / "projections" / "runner.py").write_text(
        "from projections.db import Database\n\n"
        "def main():\n    from adapters.settings import Settings\n    return Settings\n"
    )
    (tmp_path / "adapters" / "tokens.py").write_text(
        "import projections.db\n\ndef f():\n    import api.app\n"
    )
    (tmp_path / "domain" / "ledger.py").write_text("from projections import fold\n")
    assert layering_violations(tmp_path) == [
        "domain/ledger.py:1 imports projections",
        "projections/runner.py:4 imports adapters.settings",
        "adapters/tokens.py:4 imports api.app",
    ]
