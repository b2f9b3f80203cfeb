"""The ``floorledger`` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from adapters.settings import Settings, build_ledger
from domain import DomainError, Ledger

app = typer.Typer(
    name="floorledger",
    help="floorledger: the event-sourced execution ledger between an ERP and a factory floor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
audit_app = typer.Typer(help="Auditors' checks of the stored history.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"])
            err.print(f"[red]configuration error[/red] FLOORLEDGER_{loc.upper()}: {e['msg']}")
        raise typer.Exit(2) from None


@contextmanager
def open_ledger() -> Iterator[Ledger]:
    """The Ledger on the configured store; domain errors become a clear message and exit 1."""
    settings = load_settings()
    try:
        ledger = build_ledger(settings)
    except Exception as exc:
        err.print(f"[red]cannot open the store[/red] {settings.redacted_url()}: {exc}")
        raise typer.Exit(3) from None
    try:
        yield ledger
    except DomainError as exc:
        err.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        ledger.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def print_history(ledger: Ledger, order_no: str, integration: str | None, as_json: bool) -> None:
    entries = ledger.history(order_no, integration=integration)
    if as_json:
        rows = [
            {
                "version": e.version,
                "recorded_at": e.recorded_at,
                "occurred_at": e.occurred_at,
                "actor": e.actor_id,
                "role": e.actor_role,
                "source": e.source,
                "event": e.event,
                "summary": e.summary,
                "details": e.details,
            }
            for e in entries
        ]
        typer.echo(json.dumps(rows, default=_json_default, indent=2))
        return
    table = Table(title=f"History of order {order_no}", show_lines=False)
    for col in ("#", "time", "actor", "role", "source", "what happened"):
        table.add_column(col, overflow="fold")
    for e in entries:
        when = (e.occurred_at or e.recorded_at).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(e.version), when, e.actor_id, e.actor_role, e.source, e.summary)
    console.print(table)


@app.command()
def history(
    order_no: Annotated[str, typer.Argument(help="The ERP order number.")],
    integration: Annotated[
        str | None, typer.Option(help="Integration the order came from (default: configured).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The auditor's trace of an order: one line per event — time, actor, role, source, what."""
    with open_ledger() as ledger:
        print_history(ledger, order_no, integration, as_json)


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the whole store; report every altered or missing event. Exits 1 when any is found."""
    with open_ledger() as ledger:
        report = ledger.verify()
    if report.ok:
        console.print(
            f"[green]ok[/green]: {report.events} events in {report.aggregates} aggregates, "
            "every hash chain intact"
        )
        return
    table = Table(title="Audit findings")
    for col in ("order / aggregate", "version", "problem"):
        table.add_column(col)
    for f in report.findings:
        table.add_row(f.aggregate, str(f.version), f.problem)
    console.print(table)
    err.print(
        f"[red]{len(report.findings)} problem(s)[/red] in {report.events} events "
        f"of {report.aggregates} aggregates"
    )
    raise typer.Exit(1)


@app.command()
def demo() -> None:
    """Release a sample order, work a short shift on it, raise and resolve a conflict, show it."""
    from api.demo import run_demo

    with open_ledger() as ledger:
        order_no = run_demo(ledger)
        print_history(ledger, order_no, "demo", as_json=False)


@app.command()
def run() -> None:
    """The main job on the configured store (embedded SQLite by default)."""
    settings = load_settings()
    console.print(f"floorledger on {settings.redacted_url()}")
    demo()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
