"""``floorledger writeback …``: status, run, replay, retry, skip and trigger of ERP writeback."""

from __future__ import annotations

import getpass
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from adapters.writeback.service import PositionError, WritebackError, WritebackService
from api.cli.config import load_integrations
from api.cli.console import console, err
from api.cli.golive import dry_run_writeback
from api.cli.lookup import order_integration
from api.cli.stopping import stop_on_signals
from api.cli.store import open_ledger
from domain import Actor

writeback_app = typer.Typer(
    help="ERP writeback: what each destination still has to receive, and the pump.",
    no_args_is_help=True,
)

DestinationOpt = Annotated[str, typer.Option("--destination", "-d", help="Destination name.")]
ActorOpt = Annotated[
    str | None, typer.Option("--actor", help="Who decides (default: the login name).")
]
NoteOpt = Annotated[
    str, typer.Option("--note", help="Why (recorded with the decision; up to 1000 characters).")
]


@contextmanager
def _service() -> Iterator[WritebackService]:
    config = load_integrations()
    with open_ledger() as ledger:
        svc = WritebackService(ledger, config)
        try:
            yield svc
        except WritebackError as exc:
            err.print(f"[red]refused:[/red] {exc}")
            raise typer.Exit(1) from None
        finally:
            svc.close()


def _actor(name: str | None, role: str) -> Actor:
    return Actor(name or getpass.getuser() or "cli", role, "cli")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"


@writeback_app.command("status")
def status(
    destination: Annotated[str | None, typer.Option("--destination", "-d")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per destination: backlog, oldest unsent event's age, parked and held orders, last error."""
    with _service() as svc:
        rows = svc.status(destination)
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in rows], indent=2))
        return
    table = Table(title="ERP writeback")
    for col in ("destination", "mode", "transport", "position", "backlog", "oldest", "parked",
                "held", "last error"):  # fmt: skip
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r.destination,
            r.mode if r.sends else f"{r.mode} (sends nothing)",
            r.transport,
            f"{r.position}/{r.head}",
            str(r.backlog),
            _age(r.oldest_unsent_age_seconds),
            ", ".join(p.order_no for p in r.parked) or "-",
            ", ".join(h.order_no for h in r.held) or "-",
            r.last_error or "-",
        )
    console.print(table)
    for r in rows:
        for p in r.parked:
            console.print(
                f"[yellow]parked[/yellow] {r.destination} order {p.order_no}: {p.event} "
                f"({p.held} more waiting) — {p.reason}"
            )
        for h in r.held:
            console.print(
                f"[yellow]held[/yellow] {r.destination} order {h.order_no}: {h.event} "
                f"({h.waiting} more waiting) since {h.held_since[:19]}, {h.attempts} tries, "
                f"next {h.next_attempt_at[:19]} — {h.last_error}"
            )


@writeback_app.command("run")
def run(
    destination: Annotated[
        list[str] | None, typer.Option("--destination", "-d", help="Only these destinations.")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Drain once, then exit.")] = False,
    poll: Annotated[
        float | None,
        typer.Option(
            min=0.001, help="Seconds between passes (default: the destinations' poll_seconds)."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Build the backlog's messages; send none, move nothing."),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="With --dry-run: write the messages into this folder."),
    ] = None,
) -> None:
    """Run the pump: deliver as events arrive and on a timer, until stopped (Ctrl-C).

    Stops on Ctrl-C or SIGTERM; still busy 10 s after the signal (an ERP that takes the
    connection and never answers), it exits with status 1, saying so: what it had not
    delivered is sent by the next start, once."""
    if dry_run:
        dry_run_writeback(destination or None, out)
        return
    # The ERP transports (httpx, SQLAlchemy, pika) load only for the pump (CLI start-up time).
    from adapters.writeback.pump import Pump

    config = load_integrations()
    with open_ledger() as ledger:
        try:
            pump = Pump(ledger, config, destination or None)
        except KeyError as exc:
            err.print(f"[red]refused:[/red] {exc.args[0]}")
            raise typer.Exit(1) from None
        for name, why in pump.skipped.items():
            console.print(f"{name}: {why}")
        try:
            if once:
                result = pump.run_once()
                for name, outcome in result.items():
                    console.print(f"{name}: {outcome}")
                if any(isinstance(v, str) for v in result.values()):
                    raise typer.Exit(1)
                return
            stop = threading.Event()
            stop_on_signals(stop, pump.wake)
            console.print(f"writeback pump for {', '.join(pump.pumps) or 'nothing'}; Ctrl-C stops")
            pump.run_forever(stop, poll)
        finally:
            pump.close()


@writeback_app.command("replay")
def replay(
    destination: DestinationOpt,
    from_position: Annotated[
        int, typer.Option("--from", min=1, help="First ledger position to send again.")
    ],
) -> None:
    """Re-send everything from a ledger position on (receivers dedupe by idempotency key)."""
    with _service() as svc:
        try:
            svc.replay(destination, from_position)
        except PositionError as exc:
            err.print(f"[red]refused:[/red] {exc}")
            raise typer.Exit(2) from None
    console.print(f"{destination}: will re-send from position {from_position}")


@writeback_app.command("retry")
def retry(
    order_no: Annotated[str, typer.Argument(help="The parked or held order.")],
    destination: DestinationOpt,
    actor: ActorOpt = None,
    note: NoteOpt = "",
) -> None:
    """Send a parked (or held) order's message again, then its waiting ones (recorded, with
    the note)."""
    with _service() as svc:
        svc.retry(destination, order_no, _actor(actor, "supervisor"), note=note)
    console.print(f"{destination}: order {order_no} will be retried by the pump")


@writeback_app.command("skip")
def skip(
    order_no: Annotated[str, typer.Argument(help="The parked or held order.")],
    destination: DestinationOpt,
    actor: ActorOpt = None,
    note: NoteOpt = "",
) -> None:
    """Drop a parked (or held) order's message; its later messages go on (recorded, with
    the note saying why)."""
    with _service() as svc:
        svc.skip(destination, order_no, _actor(actor, "supervisor"), note=note)
    console.print(f"{destination}: order {order_no}'s refused message skipped")


@writeback_app.command("trigger")
def trigger(
    order_no: Annotated[str, typer.Argument(help="The order.")],
    report_id: Annotated[str, typer.Argument(help="The submitted report.")],
    integration: Annotated[str | None, typer.Option(help="The order's integration.")] = None,
    actor: ActorOpt = None,
    role: Annotated[str, typer.Option(help="operator or supervisor")] = "supervisor",
) -> None:
    """Send a submitted report to the ERP now (mode E; recorded on the order)."""
    with _service() as svc:
        integ = order_integration(svc.ledger, order_no, integration)
        out = svc.trigger(order_no, report_id, _actor(actor, role), integ)
    console.print(f"report {report_id} of order {order_no} triggered (position {out.position})")
