"""The ``floorledger`` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
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
token_app = typer.Typer(help="Bearer tokens of the HTTP API.", no_args_is_help=True)
app.add_typer(token_app, name="token")

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


S = TypeVar("S", bound=Settings)


def load_settings() -> Settings:
    """The FLOORLEDGER_* settings of the store."""
    return settings_of(Settings)


def settings_of(kind: type[S]) -> S:
    """FLOORLEDGER_* settings of ``kind``; each bad one is named with its value, then exit 2."""
    try:
        return kind()
    except ValidationError as exc:
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"])
            shown = "" if loc == "database_url" else f" (got {e.get('input')!r})"
            err.print(
                f"[red]configuration error[/red] FLOORLEDGER_{loc.upper()}: {e['msg']}{shown}"
            )
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
    ledger.locate = lambda order_no: _integrations_of(ledger, order_no)
    try:
        yield ledger
    except DomainError as exc:
        err.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        ledger.close()


def _versions_seen(ledger: Ledger) -> dict[Any, tuple[str, int]]:
    """What the status view has seen of each order (nothing when it was never built)."""
    from domain import order_id_for
    from projections import ViewReader

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


def _integrations_of(ledger: Ledger, order_no: str) -> list[str]:
    """Which integrations hold this order number (from the views, brought up to date)."""
    from projections import ViewReader, ViewRunner

    runner, reader = ViewRunner(ledger), ViewReader.for_ledger(ledger)
    try:
        runner.setup()
        runner.catch_up()
        return reader.integrations_of(order_no)
    finally:
        reader.close()
        runner.close()


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


@app.command()
def demo() -> None:
    """Release a sample order, work a short shift on it, raise and resolve a conflict, show it."""
    from api.demo import run_demo

    with open_ledger() as ledger:
        order_no = run_demo(ledger)
        print_history(ledger, order_no, "demo", as_json=False)


@app.command()
def run(
    config: Annotated[
        Path | None,
        typer.Option(help="Integration file (default: $FLOORLEDGER_CONFIG, else the example)."),
    ] = None,
    seed: Annotated[
        Path | None,
        typer.Option(help="Plans copied into each empty file inbox on a first run."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    demo_order: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Record the demo order on a new store.")
    ] = True,
) -> None:
    """The main job: the HTTP API with the ERP sync and writeback workers, tokens printed."""
    import uvicorn

    from adapters.config import ConfigError
    from api.app import create_app
    from api.demo import run_demo
    from api.main_job import (
        EXAMPLE_CONFIG,
        MainJob,
        demo_operator_for,
        load,
        operator_token,
        prepare_folders,
        resolve_config,
    )
    from api.runtime import ApiSettings

    settings = settings_of(ApiSettings)
    host = host or settings.host
    port = settings.port if port is None else port
    config_path = resolve_config(config)
    try:
        integrations = load(config_path)
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red] {exc}")
        raise typer.Exit(2) from None
    if seed is None and config_path == EXAMPLE_CONFIG:
        seed = EXAMPLE_CONFIG.parent / "plans"
    copied = prepare_folders(integrations, seed) if integrations else []

    with open_ledger() as ledger:
        fresh = ledger.position() == 0
        demo_no = run_demo(ledger) if demo_order and fresh else None
    operator = operator_token(settings, "operator", "operator")
    supervisor = operator_token(settings, "supervisor", "supervisor")
    demo_operator = demo_operator_for(settings, create=demo_no is not None)

    job = MainJob(settings, integrations)
    job.start_workers()
    console.print(f"[bold]floorledger[/bold] on {settings.redacted_url()}")
    if config_path is not None and integrations is not None:
        names = ", ".join(f"{i.name} (mode {i.mode})" for i in integrations.integrations)
        console.print(f"integrations from {config_path}: {names}")
    if copied:
        console.print(f"example plans dropped into the ERP inboxes: {', '.join(copied)}")
    if demo_no:
        console.print(f"demo order recorded: {demo_no} (integration demo)")
    console.print(
        f"\n  API docs      http://{host}:{port}/docs\n"
        f"  operator      Bearer {operator}\n"
        f"  supervisor    Bearer {supervisor}\n"
        f"  plan          curl -H 'Authorization: Bearer {operator}' "
        f"http://{host}:{port}/work-centres/SAW-1/plan\n"
        "  writeback     var/erp/performance/ (with the example configuration)\n"
        f"\n  terminal      http://{host}:{port}/terminal\n"
        "                sign it in with the supervisor token above and work centres such as\n"
        "                SAW-1, LASER-1, COAT-1; then operators sign on with a badge or PIN"
        + (f"\n                (demo operator {demo_operator})" if demo_operator else "")
        + "\n"
        "\nCtrl-C stops everything.\n",
        soft_wrap=True,
    )
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    finally:
        job.close()


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (FLOORLEDGER_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (FLOORLEDGER_PORT, 8000).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (FLOORLEDGER_WORKERS, 1).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
) -> None:
    """Serve the HTTP API for the floor, supervisors, auditors and ERP pushes (uvicorn)."""
    import os

    import uvicorn

    from api.runtime import ApiSettings

    settings = settings_of(ApiSettings)
    host = host or settings.host
    port = settings.port if port is None else port
    workers = workers or settings.workers
    # Each worker builds its own app from the environment (create_app is the factory).
    os.environ["FLOORLEDGER_HOST"] = host
    os.environ["FLOORLEDGER_PORT"] = str(port)
    err.print(
        f"floorledger API on http://{host}:{port} ({workers} worker(s)), "
        f"store {settings.redacted_url()}"
    )
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
    )


@contextmanager
def open_tokens() -> Iterator[Any]:
    """The token store of the configured database; refusals become a message and exit 1."""
    from adapters.tokens import TokenError, TokenStore

    settings = load_settings()
    store = TokenStore(settings, cache_seconds=0)
    try:
        store.setup()
    except Exception as exc:
        err.print(f"[red]cannot open the store[/red] {settings.redacted_url()}: {exc}")
        raise typer.Exit(3) from None
    try:
        yield store
    except TokenError as exc:
        err.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        store.close()


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Who the token acts as (recorded on events).")],
    role: Annotated[str, typer.Option(help="operator, supervisor, auditor, integration or admin.")],
    work_centre: Annotated[
        str | None, typer.Option(help="Limit an operator to one work centre.")
    ] = None,
) -> None:
    """Create an API token and print it once (only its hash is stored)."""
    with open_tokens() as store:
        token, secret = store.create(name, role, work_centre)
    scope = f", work centre {token.work_centre}" if token.work_centre else ""
    err.print(f"created token {token.name!r} ({token.role}{scope}); it is shown only once:")
    typer.echo(secret)


@token_app.command("list")
def token_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List API tokens: name, role, work centre, created, revoked (never the secret)."""
    with open_tokens() as store:
        tokens = store.list()
    if as_json:
        typer.echo(json.dumps([t.__dict__ for t in tokens], indent=2))
        return
    table = Table(title="API tokens")
    for col in ("name", "role", "work centre", "created", "revoked"):
        table.add_column(col)
    for t in tokens:
        table.add_row(t.name, t.role, t.work_centre or "", t.created_at, t.revoked_at or "")
    console.print(table)


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke an API token by name (401 within FLOORLEDGER_TOKEN_CACHE_SECONDS, default 5)."""
    with open_tokens() as store:
        revoked = store.revoke(name)
    if not revoked:
        err.print(f"[red]no active token named {name!r}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked token {name!r}")


# ---------------------------------------------------------------------------- ERP sync

mapping_app = typer.Typer(
    help="Master-data alignment between the ERP and the floor.", no_args_is_help=True
)
app.add_typer(mapping_app, name="mapping")

SHOWN_ORDERS = 20


def load_integrations(integration: str | None = None) -> Any:
    """The integration configuration ($FLOORLEDGER_CONFIG); each problem printed, exit 2."""
    from rich.markup import escape

    from adapters.config import ConfigError, load_config

    try:
        config = load_config()
        if integration is not None:
            config.get(integration)
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    return config


def _orders(numbers: list[str]) -> str:
    shown = ", ".join(numbers[:SHOWN_ORDERS])
    more = len(numbers) - SHOWN_ORDERS
    return shown + (f" … and {more} more" if more > 0 else "")


def print_summary(summary: Any) -> None:
    """What one integration's pass changed: counts, the orders by outcome, warnings, errors."""
    from rich.markup import escape

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


@app.command()
def sync(
    once: Annotated[
        bool, typer.Option("--once", help="Do one pass, print what changed, and exit.")
    ] = False,
    integration: Annotated[
        str | None, typer.Option("--integration", help="Only this integration (by name).")
    ] = None,
) -> None:
    """Pull the plan from every ERP integration: a long-running worker, or one pass (--once)."""
    import logging
    import signal
    import threading

    from adapters.config import IntegrationsConfig
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
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        err.print(f"floorledger sync: {len(config.integrations)} integration(s); Ctrl-C stops")
        Worker(config, ledger).run_forever(stop)


@mapping_app.command("check")
def mapping_check(
    integration: Annotated[
        str | None, typer.Option("--integration", help="Only this integration (by name).")
    ] = None,
) -> None:
    """List every ERP value the value maps do not cover, with counts and example orders."""
    from rich.markup import escape

    from adapters.config import ConfigError
    from adapters.inbound.sync import SourceUnavailable
    from adapters.inbound.worker import check_integration

    config = load_integrations(integration)
    failed = False
    for integ in [config.get(integration)] if integration else config.integrations:
        try:
            check = check_integration(integ)
        except (SourceUnavailable, ConfigError, OSError) as exc:
            err.print(f"[red]{integ.name}: cannot read the ERP data[/red]: {escape(str(exc))}")
            failed = True
            continue
        if check.ok:
            console.print(
                f"[green]{integ.name}[/green]: all values of {check.orders_seen} order(s) "
                "are covered by the maps"
            )
            continue
        table = Table(title=f"{integ.name}: values the maps do not cover")
        for col in ("map", "ERP value", "seen", "example orders"):
            table.add_column(col, overflow="fold")
        for u in check.uncovered():
            table.add_row(u.kind.replace("_", " "), u.value, str(u.count), ", ".join(u.examples))
        console.print(table)
    if failed:
        raise typer.Exit(1)


def _register_view_commands() -> None:
    from api.cli_views import register

    register(app)


_register_view_commands()


def _register_writeback_commands() -> None:
    from api.cli_writeback import writeback_app

    app.add_typer(writeback_app, name="writeback")


_register_writeback_commands()


def _register_operator_commands() -> None:
    from api.cli_operators import operator_app

    app.add_typer(operator_app, name="operator")


_register_operator_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
