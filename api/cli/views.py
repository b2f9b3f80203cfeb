"""The read models: ``views status|rebuild|run``, ``plan`` and ``status``."""

from __future__ import annotations

import threading
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.console import console, err
from api.cli.lookup import known_work_centres, order_integration, require_integration
from api.cli.stopping import stop_on_signals
from api.cli.store import open_views
from projections import ViewRunner

views_app = typer.Typer(
    help="The read models: their positions, rebuilding, following live.", no_args_is_help=True
)


def _known_view(runner: ViewRunner, name: str) -> None:
    if name not in runner.views:
        err.print(f"[red]unknown view[/red] {name!r}: one of {', '.join(runner.views)}")
        raise typer.Exit(2)


@views_app.command("status")
def views_status() -> None:
    """Each view's position and its lag behind the ledger (does not catch up first)."""
    with open_views(catch_up=False) as (_ledger, runner, _reader):
        head = runner.head()
        table = Table(title=f"Views (ledger head {head})")
        for col in ("view", "position", "lag (events)"):
            table.add_column(col)
        for name, pos in runner.positions().items():
            table.add_row(name, str(pos), str(max(0, head - pos)))
        console.print(table)


@views_app.command("rebuild")
def views_rebuild(
    name: Annotated[str | None, typer.Argument(help="One view (default: all).")] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", min=1, help="Events per transaction (default 1000)."),
    ] = None,
) -> None:
    """Drop a view (or all) and replay the whole ledger into it, with a progress bar."""
    with open_views(catch_up=False) as (_ledger, runner, _reader):
        if batch_size is not None:
            runner.batch_size = batch_size
        names = list(runner.views)
        if name is not None:
            _known_view(runner, name)
            names = [name]
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            head = runner.head()
            for view in names:
                task = bar.add_task(f"rebuild {view}", total=head)

                def advance(cur: int, tot: int, t: TaskID = task) -> None:
                    bar.update(t, completed=cur, total=tot)

                result = runner.rebuild(view, progress=advance)
                bar.console.print(
                    f"{view}: {result.events:,} events in {result.seconds:.2f} s "
                    f"({result.events_per_second:,.0f} events/s)"
                )


@views_app.command("run")
def views_run(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Only these views (default: all).", show_default=False),
    ] = None,
) -> None:
    """Follow the ledger live, keeping the views (all, or the named ones) current.

    Stops on Ctrl-C or SIGTERM; still busy 10 s after the signal, it exits with status 1,
    saying so (the next start goes on from each view's recorded position)."""
    with open_views(catch_up=False) as (_ledger, runner, _reader):
        for name in names or []:
            _known_view(runner, name)
        for name in runner.views:
            if names and name not in names:
                runner.pause(name)
        stop = threading.Event()
        stop_on_signals(stop)
        console.print(f"following the ledger into {', '.join(runner.active_views())}; Ctrl-C stops")
        runner.run_forever(stop)


def plan(
    work_centre: Annotated[str, typer.Argument(help="Work centre / measuring point.")],
    integration: Annotated[str | None, typer.Option(help="Only this integration.")] = None,
) -> None:
    """The plan of a work centre: orders not completed or cancelled and all their operations
    there (completed ones too, with their state), by due date."""
    with open_views() as (ledger, _runner, reader):
        if integration is not None:
            require_integration(ledger, integration)
        p = reader.plan(work_centre, integration)
        if not p.entries and p.active is None:
            known = known_work_centres(reader)
            if work_centre not in known:
                err.print(
                    f"[red]unknown work centre[/red] {escape(repr(work_centre))}: no open "
                    "operation, measuring point or value map has it; known work centres: "
                    f"{escape(', '.join(known) or 'none yet')}"
                )
                raise typer.Exit(2)
    if p.active is not None:
        console.print(
            f"running on {work_centre}: order {p.active.order_no} ({p.active.part_no or '?'})"
        )
    if not p.entries:
        console.print(f"no open orders at {work_centre}")
        return
    table = Table(title=f"Plan of {work_centre}")
    for col in ("due", "prio", "order", "part", "qty", "op", "operation", "state", "good"):
        table.add_column(col)
    for e in p.entries:
        table.add_row(
            str(e.due_date or "—"),
            str(e.priority),
            e.order_no,
            e.part_no,
            f"{e.quantity} {e.unit}",
            e.op_id,
            e.op_name,
            e.op_state,
            str(e.good),
        )
    console.print(table)


def status(
    order_no: Annotated[str, typer.Argument(help="The ERP order number.")],
    integration: Annotated[
        str | None, typer.Option(help="Integration (default: configured).")
    ] = None,
) -> None:
    """An order's status: state, operations, quantities, times, open conflicts and warnings."""
    with open_views() as (ledger, _runner, reader):
        integ = order_integration(ledger, order_no, integration)
        s = reader.status(order_no, integ)
    if s is None:
        err.print(f"[red]not found:[/red] order {order_no!r} in integration {integ!r}")
        raise typer.Exit(1)
    scrap = ", ".join(f"{k or '?'} {v}" for k, v in s.scrap.items()) or "0"
    console.print(
        f"order {s.order_no} — {s.part_no} {s.description}\n"
        f"state {s.state}; quantity {s.quantity} {s.unit}; due {s.due_date or '—'}; "
        f"priority {s.priority}\n"
        f"good {s.good}, scrap {scrap}, rework {s.rework}; run {s.run_seconds / 60:.1f} min "
        f"against standard {s.standard_minutes:.1f} min\n"
        f"open conflicts {s.open_conflicts}, open warnings {s.open_warnings}; "
        f"last activity {s.last_activity or '—'}"
    )
    table = Table()
    for col in (
        "op",
        "name",
        "work centre",
        "state",
        "good",
        "scrap",
        "rework",
        "run min",
        "std min",
    ):
        table.add_column(col)
    for op in s.operations:
        table.add_row(
            op.op_id,
            op.name,
            op.work_centre,
            op.state,
            str(op.good),
            str(sum(op.scrap.values())),
            str(op.rework),
            f"{op.run_seconds / 60:.1f}",
            f"{op.standard_minutes:.1f}",
        )
    console.print(table)
