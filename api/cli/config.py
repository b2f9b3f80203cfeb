"""The one place the CLI reads its configuration: FLOORLEDGER_* settings and the integration file.

Every bad value is named with the value found, then the command exits 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import typer
from pydantic import ValidationError
from rich.markup import escape

from adapters.config import CONFIG_ENV, ConfigError, IntegrationsConfig, load_config
from adapters.settings import Settings
from api.cli.console import err
from api.main_job import EXAMPLE_CONFIG, resolve_config

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


def config_path() -> Path | None:
    """The integration file: $FLOORLEDGER_CONFIG, else the example ``floorledger run`` uses
    when run in the folder that holds it (the project folder after ``make run``)."""
    return resolve_config(None)


def load_integrations(integration: str | None = None) -> IntegrationsConfig:
    """The integration configuration (see :func:`config_path`); each problem printed, exit 2."""
    path = config_path()
    if path is None:
        err.print(
            f"[red]configuration error[/red] {CONFIG_ENV} is not set: name the integration "
            f"TOML file, e.g. export {CONFIG_ENV}=/etc/floorledger/plant.toml "
            f"(in the folder that holds {EXAMPLE_CONFIG}, the example `floorledger run` uses "
            "is the default)"
        )
        raise typer.Exit(2)
    if not os.environ.get(CONFIG_ENV):
        err.print(f"{CONFIG_ENV} is not set: using {path}, as `floorledger run` does")
    try:
        config = load_config(path)
        if integration is not None:
            config.get(integration)
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    return config


def configured_integrations() -> IntegrationsConfig | None:
    """The integration configuration when there is a usable one; None, silently, otherwise."""
    path = config_path()
    if path is None:
        return None
    try:
        return load_config(path)
    except ConfigError:
        return None
