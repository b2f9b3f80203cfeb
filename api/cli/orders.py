"""Orders and their audit: ``history`` and ``audit verify``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.console import console, err, json_default
from api.cli.lookup import order_integration
from api.cli.store import open_ledger
from domain import HistoryEntry, Ledger, order_id_for
from projections import ViewReader

audit_app = typer.Typer(help="Auditors' checks of the stored history.", no_args_is_help=True)


def print_history(ledger: Ledger, order_no: str, integration: str | None, as_json: bool) -> None:
    """An order's events, as a table or as JSON."""
    entries = ledger.history(order_no, integration=integration)
    if as_json:
        # The keys of the HTTP API's history entries (HistoryEntryPublic).
        rows = [
            {
                "version": e.version,
                "recorded_at": e.recorded_at,
                "occurred_at": e.occurred_at,
                "actor_id": e.actor_id,
                "actor_role": e.actor_role,
                "source": e.source,
                "event": e.event,
                "summary": e.summary,
                "details": e.details,
            }
            for e in entries
        ]
        typer.echo(json.dumps(rows, default=json_default, indent=2))
        return
    late = recorded_out_of_floor_order(entries)
    table = Table(title=f"History of order {order_no}", show_lines=False)
    for col in ("#", "floor time", "recorded", "actor", "role", "source", "what happened"):
        table.add_column(col, overflow="fold")
    for e in entries:
        floor = _local(e.occurred_at) if e.occurred_at else "—"
        if e.version in late:
            floor += " *"
        table.add_row(
            str(e.version),
            floor,
            _local(e.recorded_at),
            e.actor_id,
            e.actor_role,
            e.source,
            e.summary,
        )
    console.print(table)
    if late:
        console.print(
            f"* recorded out of floor-time order (happened before an event recorded earlier): "
            f"version {', '.join(str(v) for v in sorted(late))}",
            soft_wrap=True,
        )


def _local(when: datetime) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def recorded_out_of_floor_order(entries: list[HistoryEntry]) -> set[int]:
    """Versions whose floor time is earlier than that of an event recorded before them."""
    late: set[int] = set()
    latest: datetime | None = None
    for e in entries:
        if e.occurred_at is None:
            continue
        if latest is not None and e.occurred_at < latest:
            late.add(e.version)
        else:
            latest = e.occurred_at
    return late


def history(
    order_no: Annotated[str, typer.Argument(help="The ERP order number.")],
    integration: Annotated[
        str | None, typer.Option(help="Integration the order came from (default: configured).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The auditor's trace of an order: one line per event — time, actor, role, source, what."""
    with open_ledger() as ledger:
        print_history(ledger, order_no, order_integration(ledger, order_no, integration), as_json)


def _versions_seen(ledger: Ledger) -> dict[Any, tuple[str, int]]:
    """What the status view has seen of each order (nothing when it was never built)."""
    reader = ViewReader.for_ledger(ledger)
    try:
        seen = reader.versions_seen()
    except Exception:  # the view's table does not exist (yet)
        return {}
    finally:
        reader.close()
    return {
        order_id_for(integ, order_no): (order_no, version)
        for (integ, order_no), version in seen.items()
    }


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the whole store; report every altered or missing event. Exits 1 when any is found."""
    with open_ledger() as ledger:
        seen = _versions_seen(ledger)
        with Progress(
            TextColumn("verifying"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
            TimeElapsedColumn(), console=err, transient=True,
        ) as bar:  # fmt: skip
            task = bar.add_task("verify", total=ledger.position())

            def advance(position: int, head: int) -> None:
                bar.update(task, completed=position, total=head)

            report = ledger.verify(seen=seen, seen_by="the status view", progress=advance)
    if report.ok:
        console.print(
            f"[green]ok[/green]: {report.events} events in {report.aggregates} aggregates, "
            "every hash chain intact"
            + (f"; {len(seen)} orders as far as the status view had seen them" if seen else "")
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
