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


# ---------------------------------------------------------------------- one order state machine

READ_SIDE = [
    *sorted((ROOT / "projections").glob("*.py")),
    *sorted((ROOT / "adapters" / "writeback").glob("*.py")),
]


def order_event_names() -> set[str]:
    from domain.workorder import WorkOrder

    return {
        name
        for name, c in vars(WorkOrder).items()
        if isinstance(c, type) and issubclass(c, WorkOrder.Event) and c is not WorkOrder.Event
    }


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def own_order_event_handlers(source: str, filename: str, *, in_projections: bool) -> list[str]:
    """Places where a module handles WorkOrder events by itself instead of through the domain's
    fold: a per-event table or function, dispatch on an event's class name, or (in a view) any
    use of a specific WorkOrder event class."""
    names = order_event_names()
    handler_names = {
        f"{prefix}{_snake(n)}"
        for n in names
        for prefix in ("_", "on_", "_on_", "handle_", "_apply_")
    }
    tree = ast.parse(source, filename=filename)
    found: list[str] = []

    def where(node: ast.AST) -> str:
        return f"{filename}:{getattr(node, 'lineno', '?')}"

    def event_ref(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and node.value in names:
            return str(node.value)
        if _work_order_event(node):
            return node.attr  # type: ignore[attr-defined, no-any-return]
        return None

    def _work_order_event(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and node.attr in names
            and isinstance(node.value, ast.Name)
            and node.value.id == "WorkOrder"
        )

    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in handler_names:
            found.append(f"{where(node)}: handler function {node.name}")
        elif isinstance(node, ast.Name) and node.id == "_HANDLERS":
            found.append(f"{where(node)}: handler table _HANDLERS")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                ref = event_ref(key) if key is not None else None
                if ref and isinstance(value, ast.Name | ast.Lambda | ast.Attribute):
                    found.append(f"{where(node)}: table maps {ref} to a function")
        elif isinstance(node, ast.Compare):
            if isinstance(node.left, ast.Attribute) and node.left.attr == "event":
                continue  # a writeback Message's stated event name, not a ledger event
            for part in [node.left, *node.comparators]:
                elts = part.elts if isinstance(part, ast.Tuple | ast.Set | ast.List) else [part]
                for elt in elts:
                    if isinstance(elt, ast.Constant) and elt.value in names:
                        found.append(f"{where(node)}: dispatch on the name {elt.value!r}")
        if in_projections and _work_order_event(node):
            found.append(f"{where(node)}: a view uses WorkOrder.{node.attr} itself")
    return found


def test_views_and_writeback_define_no_order_event_handlers_of_their_own() -> None:
    offenders = [
        finding
        for path in READ_SIDE
        for finding in own_order_event_handlers(
            path.read_text(),
            str(path.relative_to(ROOT)),
            in_projections=path.parent.name == "projections",
        )
    ]
    assert not offenders
    assert not (ROOT / "projections" / "fold.py").exists()


def test_the_handler_check_would_catch_a_reintroduced_per_event_table() -> None:
    tables = (
        "def _released(s, e): ...\n"
        "_HANDLERS = {'Released': _released}\n"
        "RULES = {WorkOrder.QuantityReported: lambda s, e: None}\n"
        "def on_conflict_raised(s, e): ...\n"
        "if name == 'OrderCompleted' or name in ('RowKeyed',): pass\n"
    )
    found = own_order_event_handlers(tables, "bad.py", in_projections=False)
    assert any("handler function _released" in f for f in found)
    assert any("_HANDLERS" in f for f in found)
    assert any("maps QuantityReported to a function" in f for f in found)
    assert any("on_conflict_raised" in f for f in found)
    assert any("'OrderCompleted'" in f for f in found)
    assert any("'RowKeyed'" in f for f in found)
    view = "if isinstance(e, WorkOrder.ReportSubmitted): pass\n"
    assert own_order_event_handlers(view, "view.py", in_projections=True)
    message = "if m.event == 'OrderCompleted': pass\n"
    assert not own_order_event_handlers(message, "transport.py", in_projections=False)
