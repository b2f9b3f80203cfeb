"""Going live with an ERP: ``mapping check`` / ``mapping import``, the dry runs of ``sync``
and ``writeback run``, and ``sandbox``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from adapters.config import ConfigError, IntegrationsConfig
from api.cli.config import load_integrations
from api.cli.console import console, err, json_default
from api.cli.store import open_ledger

mapping_app = typer.Typer(
    help="Master-data alignment between the ERP and the floor.", no_args_is_help=True
)

IntegrationOpt = Annotated[
    str | None, typer.Option("--integration", help="Only this integration (by name).")
]


def _selected(config: IntegrationsConfig, integration: str | None) -> list[Any]:
    return [config.get(integration)] if integration else list(config.integrations)


@mapping_app.command("check")
def mapping_check(
    integration: IntegrationOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    xlsx: Annotated[
        Path | None,
        typer.Option("--xlsx", help="Also write the mapping workbook the ERP team fills in."),
    ] = None,
    floor: Annotated[
        bool,
        typer.Option(
            "--floor",
            help="Also list the stop/scrap reasons, result codes and units recorded in the "
            "store that the ERP side has no mapping for.",
        ),
    ] = False,
) -> None:
    """Every ERP value of each aligned field and how it maps: mapped, passed through
    unchanged, or unknown (a sync raises a warning). Exit 1 when a sync would warn."""
    # ERP transports load only for the commands that reach an ERP (CLI start-up time).
    from adapters.golive.check import IntegrationCheck, check_one, text_lines
    from adapters.inbound.sync import SourceUnavailable

    config = load_integrations(integration)
    codes: dict[str, dict[str, dict[str, list[str]]]] = {}
    if floor:
        from adapters.golive.ledger_port import floor_codes

        with open_ledger() as ledger:
            codes = floor_codes(ledger)
    results: list[IntegrationCheck] = []
    for integ in _selected(config, integration):
        try:
            results.append(check_one(integ, codes.get(integ.name, {})))
        except (SourceUnavailable, ConfigError, OSError) as exc:
            results.append(IntegrationCheck(integ.name, None, error=str(exc)))
    if xlsx is not None:
        from adapters.golive.workbook import write_workbook

        write_workbook(xlsx, [r for r in results if r.check is not None], config)
        err.print(f"mapping workbook written to {xlsx}")
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in results], indent=2, default=json_default))
    else:
        for r in results:
            for line in text_lines(r):
                console.print(escape(line), soft_wrap=True, highlight=False)
    if any(r.error or r.would_warn for r in results):
        raise typer.Exit(1)


@mapping_app.command("import")
def mapping_import(
    workbook: Annotated[Path, typer.Argument(help="The filled-in mapping workbook (XLSX).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the TOML snippet here (default: print it)."),
    ] = None,
) -> None:
    """Read a filled-in mapping workbook back as value maps: a TOML snippet per integration
    to paste in place of its [integrations.maps.*] tables (the config is never rewritten)."""
    from adapters.golive.workbook import WorkbookError, read_workbook, toml_snippet

    config = load_integrations()
    try:
        maps = read_workbook(workbook, config)
    except WorkbookError as exc:
        for p in exc.problems:
            err.print(f"[red]refused[/red]: {escape(p)}", soft_wrap=True)
        raise typer.Exit(1) from None
    snippet = toml_snippet(maps)
    if out is None:
        typer.echo(snippet)
    else:
        out.write_text(snippet, encoding="utf-8")
        err.print(f"value maps of {', '.join(maps) or 'no integration'} written to {out}")


def dry_run_sync(integration: str | None, as_json: bool = False) -> None:
    """``sync --dry-run``: what one pass would release, change, cancel and warn; records nothing."""
    from adapters.golive.dryrun import DryRunUnsupported, DrySync, dry_sync
    from adapters.inbound.sync import SourceUnavailable

    config = load_integrations(integration)
    results: list[DrySync] = []
    failed = False
    with open_ledger() as ledger:
        for integ in _selected(config, integration):
            try:
                results.append(dry_sync(integ, ledger))
            except (SourceUnavailable, DryRunUnsupported, ConfigError, OSError) as exc:
                err.print(f"[red]{integ.name}[/red]: {escape(str(exc))}")
                failed = True
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in results], indent=2, default=json_default))
    else:
        for r in results:
            print_dry_sync(r)
    if failed or any(r.summary.errors for r in results):
        raise typer.Exit(1)


def print_dry_sync(r: Any) -> None:
    s = r.summary
    console.print(f"dry run (nothing recorded) {escape(s.line())}", soft_wrap=True)
    if s.released:
        console.print(f"  would release: {escape(', '.join(s.released))}", soft_wrap=True)
    for c in r.changes():
        console.print(
            f"  would change order {escape(c['order_no'])}: {escape(str(c.get('field')))} "
            f"{escape(str(c.get('old')))} → {escape(str(c.get('new')))}",
            soft_wrap=True,
        )
    for c in r.conflicts():
        console.print(
            f"  would raise a conflict on order {escape(c['order_no'])}: "
            f"{escape(str(c['field']))}: ERP {escape(str(c['erp_value']))}, floor "
            f"{escape(str(c['floor_value']))}",
            soft_wrap=True,
        )
    if s.cancelled:
        console.print(f"  would cancel: {escape(', '.join(s.cancelled))}", soft_wrap=True)
    if s.not_released:
        console.print(f"  not released: {escape(', '.join(s.not_released))}", soft_wrap=True)
    for w in s.warnings:
        console.print(f"  would warn: {escape(w)}", soft_wrap=True)
    for e in s.errors:
        console.print(f"  error: {escape(e)}", soft_wrap=True)


def dry_run_writeback(destinations: list[str] | None, out: Path | None) -> None:
    """``writeback run --dry-run``: the messages the backlog would send; none is sent and
    no position moves."""
    from adapters.golive.dryrun import dry_writeback, write_messages
    from adapters.writeback.config import destinations as configured

    config = load_integrations()
    names = destinations or [d.name for _, d in configured(config)]
    with open_ledger() as ledger:
        for name in names:
            try:
                result = dry_writeback(ledger, config, name)
            except KeyError as exc:
                err.print(f"[red]refused:[/red] {exc.args[0]}")
                raise typer.Exit(1) from None
            console.print(
                f"{name}: dry run, {len(result.messages)} message(s) would be sent "
                f"(position {result.position} of {result.head}; nothing sent, position kept)"
            )
            if out is not None:
                paths = write_messages(result, out)
                console.print(f"  written to {out / name} ({len(paths)} file(s))")
            else:
                for m in result.messages:
                    typer.echo(json.dumps(m.to_json(), default=json_default))


def sandbox(
    config: Annotated[
        Path,
        typer.Option(
            "--config", help="The integration TOML file pointing at the ERP's test system."
        ),
    ],
    scenario: Annotated[
        Path | None,
        typer.Option("--scenario", help="A scripted shift (TOML); default: work the first order."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write go-live-report.html and .json into this folder."),
    ] = None,
) -> None:
    """Run the whole job against the ERP's test system in a throwaway store, with writeback
    captured to files, and report what going live would do. Exit 1 when a check failed."""
    from adapters.config import load_config
    from adapters.golive.sandbox import (
        ScenarioError,
        default_scenario,
        load_scenario,
        run_sandbox,
        write_report,
    )

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    try:
        script = load_scenario(scenario) if scenario is not None else default_scenario()
    except ScenarioError as exc:
        err.print(f"[red]scenario error[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    result = run_sandbox(cfg, script, config_name=str(config))
    for name, imp in result.imported.items():
        console.print(f"{name}: {len(imp['released'])} order(s) imported", highlight=False)
    for name, m in result.messages.items():
        console.print(f"{name}: {m['count']} message(s) would be sent", highlight=False)
    for w in result.warnings:
        console.print(f"[yellow]warning[/yellow]: {escape(w)}", soft_wrap=True)
    for c in result.checks:
        mark = "[green]passed[/green]" if c.passed else "[red]FAILED[/red]"
        detail = f" — {escape(c.detail)}" if c.detail else ""
        console.print(f"{mark} {escape(c.name)}{detail}", soft_wrap=True, highlight=False)
    if report is not None:
        j, h = write_report(result, report)
        console.print(f"report: {h} and {j}")
    if not result.ok:
        raise typer.Exit(1)


__all__ = ["dry_run_sync", "dry_run_writeback", "mapping_app", "sandbox"]
