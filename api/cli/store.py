"""Opening the configured store for a command: the ledger, and the views over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

import typer

from adapters.settings import Settings, build_ledger
from api.cli.config import load_settings
from api.cli.console import err
from domain import DomainError, Ledger
from projections import ViewReader, ViewRunner


@contextmanager
def open_ledger() -> Iterator[Ledger]:
    """The Ledger on the configured store; domain errors become a clear message and exit 1."""
    settings = load_settings()
    try:
        ledger = build_ledger(settings, locate=integrations_of)
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


def integrations_of(ledger: Ledger, order_no: str) -> list[str]:
    """Which integrations hold this order number (from the views, brought up to date)."""
    with views_of(ledger) as (_, reader):
        return reader.integrations_of(order_no)


@contextmanager
def views_of(ledger: Ledger, catch_up: bool = True) -> Iterator[tuple[ViewRunner, ViewReader]]:
    """A view runner (its order cache bounded by FLOORLEDGER_VIEW_CACHE_ORDERS) and a reader
    on the ledger's store; the views caught up first unless told otherwise."""
    runner = ViewRunner(ledger, cache_orders=load_settings().view_cache_orders)
    reader = ViewReader.for_ledger(ledger)
    try:
        runner.setup()
        if catch_up:
            runner.catch_up()
        yield runner, reader
    finally:
        reader.close()
        runner.close()


@contextmanager
def open_views(catch_up: bool = True) -> Iterator[tuple[Ledger, ViewRunner, ViewReader]]:
    """The ledger, a view runner and a reader; views caught up first unless told otherwise."""
    with open_ledger() as ledger, views_of(ledger, catch_up) as (runner, reader):
        yield ledger, runner, reader


class _OwnStore(Protocol):
    def setup(self) -> None: ...
    def close(self) -> None: ...


S = TypeVar("S", bound=_OwnStore)


@contextmanager
def open_own_store(make: Callable[[Settings], S], refused: type[Exception]) -> Iterator[S]:
    """A store of floorledger's own tables (tokens, operators…) on the configured database:
    an unreachable store exits 3, a refusal (``refused``) prints it and exits 1."""
    settings = load_settings()
    store = make(settings)
    try:
        store.setup()
    except Exception as exc:
        err.print(f"[red]cannot open the store[/red] {settings.redacted_url()}: {exc}")
        raise typer.Exit(3) from None
    try:
        yield store
    except refused as exc:
        err.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        store.close()
