"""``floorledger operator``: the operators who sign on at the work-centre terminals."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Annotated

import typer
from rich.table import Table

from adapters.terminals import TerminalError, TerminalStore
from api.cli.console import console, err
from api.cli.store import open_own_store

operator_app = typer.Typer(
    help="Operators who sign on at the work-centre terminals (badge or PIN, stored hashed).",
    no_args_is_help=True,
)


def open_operators() -> AbstractContextManager[TerminalStore]:
    """The terminal store of the configured database; refusals become a message and exit 1."""
    return open_own_store(lambda settings: TerminalStore(settings), TerminalError)


@operator_app.command("add")
def operator_add(
    name: Annotated[str, typer.Argument(help="The operator's name (recorded on events).")],
    badge: Annotated[str | None, typer.Option(help="Badge number (scanned or typed).")] = None,
    pin: Annotated[
        str | None, typer.Option(help="PIN of 4-12 digits (prompted, hidden, when '-').")
    ] = None,
) -> None:
    """Add an operator who signs on with a badge, a PIN, or either (both stored hashed)."""
    from adapters.terminals import TerminalStore

    if pin == "-":
        pin = typer.prompt("PIN", hide_input=True, confirmation_prompt=True)
    with open_operators() as store:
        assert isinstance(store, TerminalStore)
        store.add_operator(name, badge=badge, pin=pin)
    ways = " and ".join(w for w, v in (("badge", badge), ("PIN", pin)) if v)
    console.print(f"added operator {name!r} (signs on with {ways})")


@operator_app.command("list")
def operator_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List operators (never their badge or PIN) and the terminals they are signed on at."""
    from adapters.terminals import TerminalStore

    with open_operators() as store:
        assert isinstance(store, TerminalStore)
        operators = store.operators()
        where = {t.operator: t.name for t in store.terminals() if t.operator}
    if as_json:
        rows = [dict(o.__dict__, signed_on_at=where.get(o.name)) for o in operators]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Operators")
    for col in ("name", "badge", "PIN", "signed on at", "added"):
        table.add_column(col)
    for o in operators:
        table.add_row(
            o.name, "yes" if o.has_badge else "", "yes" if o.has_pin else "",
            where.get(o.name, ""), o.created_at,
        )  # fmt: skip
    console.print(table)


@operator_app.command("remove")
def operator_remove(name: Annotated[str, typer.Argument(help="The operator's name.")]) -> None:
    """Remove an operator (signed off everywhere; their name stays in the history)."""
    from adapters.terminals import TerminalStore

    with open_operators() as store:
        assert isinstance(store, TerminalStore)
        removed = store.remove_operator(name)
    if not removed:
        err.print(f"[red]no operator named {name!r}[/red]")
        raise typer.Exit(1)
    console.print(f"removed operator {name!r}")
