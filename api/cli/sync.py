"""ERP sync: ``sync`` (``mapping check`` is in golive.py)."""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any

import typer
from rich.markup import escape

from adapters.config import IntegrationsConfig
from api.cli.config import load_integrations
from api.cli.console import console, err
from api.cli.golive import dry_run_sync
from api.cli.stopping import stop_on_signals
from api.cli.store import open_ledger

SHOWN_ORDERS = 20


def _orders(numbers: list[str]) -> str:
    shown = ", ".join(numbers[:SHOWN_ORDERS])
    more = len(numbers) - SHOWN_ORDERS
    return shown + (f" … and {more} more" if more > 0 else "")


def print_summary(summary: Any) -> None:
    """What one integration's pass changed: counts, the orders by outcome, warnings, errors."""
    colour = "red" if summary.errors else "green"
    console.print(f"[{colour}]{escape(summary.line())}[/{colour}]")
    for kind in ("released", "changed", "conflicts", "cancelled", "not_released"):
        numbers = getattr(summary, kind)
        if numbers:
            console.print(f"  {kind}: {escape(_orders(numbers))}", soft_wrap=True)
    for w in summary.warnings:
        console.print(f"  [yellow]warning[/yellow]: {escape(w)}", soft_wrap=True)
    for e in summary.errors:
        console.print(f"  [red]error[/red]: {escape(e)}", soft_wrap=True)


def sync(
    once: Annotated[
        bool, typer.Option("--once", help="Do one pass, print what changed, and exit.")
    ] = False,
    integration: Annotated[
        str | None, typer.Option("--integration", help="Only this integration (by name).")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Read the ERP and print what one pass would do; record nothing."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --dry-run: print JSON.")] = False,
) -> None:
    """Pull the plan from every ERP integration: a long-running worker, or one pass (--once).

    The worker stops on Ctrl-C or SIGTERM; still busy 10 s after the signal (an ERP that
    does not answer), it exits with status 1, saying so."""
    if dry_run:
        dry_run_sync(integration, as_json)
        return
    # The ERP transports (httpx, SQLAlchemy, pika, openpyxl) load only for the commands that
    # reach an ERP, so that every other command starts quickly.
    from adapters.inbound.worker import Worker

    config = load_integrations(integration)
    if integration is not None:
        config = IntegrationsConfig(integrations=[config.get(integration)])
    with open_ledger() as ledger:
        if once:
            results = Worker(config, ledger).run_once()
            for summary in results.values():
                print_summary(summary)
            if any(s.errors for s in results.values()):
                raise typer.Exit(1)
            return
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(threadName)s %(message)s"
        )
        stop = threading.Event()
        stop_on_signals(stop)
        err.print(f"floorledger sync: {len(config.integrations)} integration(s); Ctrl-C stops")
        Worker(config, ledger).run_forever(stop)
