"""What a name typed on the command line refers to: integrations, work centres, orders.

A name nobody knows is refused as unknown (listing the known ones), so that a typo is never
reported as "no open orders" or "order not in the ledger".
"""

from __future__ import annotations

import typer
from rich.markup import escape

from api.cli.config import configured_integrations, load_settings
from api.cli.console import err
from api.cli.store import integrations_of
from domain import Ledger
from projections import ViewReader, ViewRunner
from projections.status import T_STATUS
from projections.store import ViewStore


def _listed(names: list[str]) -> str:
    return ", ".join(names) if names else "none yet"


def integrations_with_orders(ledger: Ledger) -> list[str]:
    """The integrations that hold orders (from the status view, brought up to date)."""
    runner = ViewRunner(ledger, cache_orders=load_settings().view_cache_orders)
    try:
        runner.setup()
        runner.catch_up()
    finally:
        runner.close()
    db = ViewStore.for_ledger(ledger).connect()
    try:
        rows = db.query(f"SELECT DISTINCT integration FROM {T_STATUS} ORDER BY 1")
        db.end_read()
    finally:
        db.close()
    return [str(r[0]) for r in rows]


def known_integrations(ledger: Ledger) -> list[str]:
    """Integrations that hold orders or are configured."""
    config = configured_integrations()
    configured = [i.name for i in config.integrations] if config else []
    return sorted({*integrations_with_orders(ledger), *configured})


def require_integration(ledger: Ledger, integration: str) -> None:
    """Exit 2 naming the known integrations when ``integration`` is none of them."""
    config = configured_integrations()
    if config is not None and integration in {i.name for i in config.integrations}:
        return  # configured: known without reading the views
    known = known_integrations(ledger)
    if integration not in known:
        err.print(
            f"[red]unknown integration[/red] {escape(repr(integration))}: "
            f"known integrations: {escape(_listed(known))}"
        )
        raise typer.Exit(2)


def order_integration(ledger: Ledger, order_no: str, integration: str | None) -> str:
    """The integration to look ``order_no`` up in: the one named (it must exist), else the
    default one when it holds the order, else the only one that does. Exit 1 when none does,
    without naming an integration that was not asked for; exit 1 when several do."""
    if integration is not None:
        require_integration(ledger, integration)
        return integration
    holders = integrations_of(ledger, order_no)
    if ledger.default_integration in holders:
        return ledger.default_integration
    if len(holders) == 1:
        return holders[0]
    if not holders:
        err.print(
            f"[red]not found:[/red] order {escape(repr(order_no))} is in no integration "
            f"(integrations with orders: {escape(_listed(integrations_with_orders(ledger)))})"
        )
        raise typer.Exit(1)
    err.print(
        f"[red]refused:[/red] order {escape(repr(order_no))} exists in integrations "
        f"{escape(', '.join(holders))}: name one with --integration"
    )
    raise typer.Exit(1)


def known_work_centres(reader: ViewReader) -> list[str]:
    """Work centres with open work or a measuring point, and those the value maps name."""
    config = configured_integrations()
    mapped = (
        [wc for i in config.integrations for wc in i.maps.work_centres.values()] if config else []
    )
    return sorted({*reader.work_centres(), *mapped})
