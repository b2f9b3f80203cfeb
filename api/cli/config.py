"""The one place the CLI reads its configuration: FLOORLEDGER_* settings and the integration file.

Every bad value is named with the value found, then the command exits 2.
"""

from __future__ import annotations

from typing import TypeVar

import typer
from pydantic import ValidationError
from rich.markup import escape

from adapters.config import ConfigError, IntegrationsConfig, load_config
from adapters.settings import Settings
from api.cli.console import err

S = TypeVar("S", bound=Settings)


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


def load_settings() -> Settings:
    """The FLOORLEDGER_* settings of the store."""
    return settings_of(Settings)


def load_integrations(integration: str | None = None) -> IntegrationsConfig:
    """The integration configuration ($FLOORLEDGER_CONFIG); each problem printed, exit 2."""
    try:
        config = load_config()
        if integration is not None:
            config.get(integration)
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    return config
