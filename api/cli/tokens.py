"""``floorledger token …``: the bearer tokens of the HTTP API."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from adapters.tokens import TokenError, TokenStore, parse_duration
from api.cli.console import console, err
from api.cli.lookup import known_work_centres
from api.cli.store import open_own_store, open_views

token_app = typer.Typer(help="Bearer tokens of the HTTP API.", no_args_is_help=True)


def open_tokens() -> AbstractContextManager[TokenStore]:
    """The token store of the configured database; refusals become a message and exit 1."""
    return open_own_store(lambda settings: TokenStore(settings, cache_seconds=0), TokenError)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Who the token acts as (recorded on events).")],
    role: Annotated[str, typer.Option(help="operator, supervisor, auditor, integration or admin.")],
    work_centre: Annotated[
        str | None, typer.Option(help="Limit an operator to one work centre.")
    ] = None,
    expires_in: Annotated[
        str | None,
        typer.Option(help="Lifetime, e.g. 90s, 30m, 8h, 7d (default: until revoked)."),
    ] = None,
) -> None:
    """Create an API token and print it once (only its hash is stored)."""
    with open_tokens() as store:
        lifetime = parse_duration(expires_in) if expires_in is not None else None
        token, secret = store.create(name, role, work_centre, expires_in=lifetime)
    if token.work_centre:
        _warn_if_unknown(token.work_centre)
    scope = f", work centre {token.work_centre}" if token.work_centre else ""
    until = f", expires {token.expires_at}" if token.expires_at else ""
    err.print(f"created token {token.name!r} ({token.role}{scope}{until}); it is shown only once:")
    typer.echo(secret)


def _warn_if_unknown(work_centre: str) -> None:
    """Warn (the token is created all the same) when no integration knows the work centre."""
    with open_views() as (_ledger, _runner, reader):
        known = known_work_centres(reader)
    if work_centre not in known:
        err.print(
            f"[yellow]warning:[/yellow] no integration knows work centre "
            f"{escape(repr(work_centre))} (no open operation, measuring point or value map "
            f"has it; known: {escape(', '.join(known) or 'none yet')}); "
            "the token can reach only orders planned there"
        )


@token_app.command("list")
def token_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List API tokens: name, role, work centre, created, revoked, expires (never the secret)."""
    with open_tokens() as store:
        tokens = store.list()
    if as_json:
        typer.echo(json.dumps([t.__dict__ for t in tokens], indent=2))
        return
    table = Table(title="API tokens")
    for col in ("name", "role", "work centre", "created", "revoked", "expires"):
        table.add_column(col)
    for t in tokens:
        expires = (t.expires_at or "") + (" (expired)" if t.expired() else "")
        table.add_row(
            t.name, t.role, t.work_centre or "", t.created_at, t.revoked_at or "", expires
        )
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
