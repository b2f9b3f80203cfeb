"""``report-script``: the rows an ERP clerk keys in by hand, as CSV or XLSX."""

from __future__ import annotations

import io
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from adapters.config import ConfigError
from api.cli.console import console, err
from api.cli.lookup import require_integration
from api.cli.store import open_views
from api.routes.script import not_keyed_by_hand
from projections import ScriptFilter, ScriptRow
from projections.export import write_csv, write_xlsx


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


def report_script(
    out: Annotated[
        Path, typer.Option("--out", help="File to write, in an existing folder; - for stdout.")
    ],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option("--format", help="csv or xlsx (default: the file's extension, else csv)."),
    ] = None,
    integration: Annotated[str | None, typer.Option(help="Only this integration.")] = None,
    unkeyed: Annotated[bool, typer.Option(help="Only rows not yet keyed into the ERP.")] = False,
) -> None:
    """Export the report script (rows to key into the ERP by hand) as CSV or XLSX."""
    started = time.perf_counter()
    to_stdout = str(out) == "-"
    fmt = _format(out, fmt, to_stdout)
    if not to_stdout and not out.parent.is_dir():
        err.print(
            f"[red]refused:[/red] --out {str(out)!r}: the folder {str(out.parent)!r} does not exist"
        )
        raise typer.Exit(2)
    with open_views() as (ledger, _runner, reader):
        if integration is not None:
            require_integration(ledger, integration)
        try:
            excluded = not_keyed_by_hand()
        except ConfigError as exc:
            err.print(f"[red]refused:[/red] the integration configuration is unusable: {exc}")
            raise typer.Exit(2) from None
        rows = reader.report_script(
            ScriptFilter(
                integration=integration,
                keyed=False if unkeyed else None,
                excluded_integrations=excluded,
            )
        )
    if to_stdout:
        n = _to_stdout(rows, fmt)
        err.print(f"{n} row(s) written to standard output in {time.perf_counter() - started:.2f} s")
        return
    tmp = out.with_name(out.name + ".tmp")
    if fmt == ExportFormat.csv:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            n = write_csv(rows, fh)
    else:
        n = write_xlsx(rows, tmp)
    tmp.replace(out)
    console.print(f"{n} row(s) written to {out} in {time.perf_counter() - started:.2f} s")


def _format(out: Path, fmt: ExportFormat | None, to_stdout: bool) -> ExportFormat:
    """The format asked for, checked against the file's extension (which names it if not)."""
    by_suffix = {".csv": ExportFormat.csv, ".xlsx": ExportFormat.xlsx}.get(out.suffix.lower())
    if to_stdout or by_suffix is None:
        return fmt or ExportFormat.csv
    if fmt is not None and fmt != by_suffix:
        err.print(
            f"[red]refused:[/red] --format {fmt.value} contradicts --out {str(out)!r} "
            f"(a .{by_suffix.value} file): change one of them"
        )
        raise typer.Exit(2)
    return by_suffix


def _to_stdout(rows: list[ScriptRow], fmt: ExportFormat) -> int:
    if fmt == ExportFormat.csv:
        buffer = io.StringIO(newline="")
        n = write_csv(rows, buffer)
        sys.stdout.write(buffer.getvalue())
        sys.stdout.flush()
        return n
    workbook = io.BytesIO()
    n = write_xlsx(rows, workbook)
    sys.stdout.buffer.write(workbook.getvalue())
    sys.stdout.buffer.flush()
    return n
