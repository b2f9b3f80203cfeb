"""``report-script``: the rows an ERP clerk keys in by hand, as CSV or XLSX."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from api.cli.console import console
from api.cli.store import open_views
from projections import ScriptFilter
from projections.export import write_csv, write_xlsx


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


def report_script(
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="csv or xlsx.")] = ExportFormat.csv,
    integration: Annotated[str | None, typer.Option(help="Only this integration.")] = None,
    unkeyed: Annotated[bool, typer.Option(help="Only rows not yet keyed into the ERP.")] = False,
) -> None:
    """Export the report script (rows to key into the ERP by hand) as CSV or XLSX."""
    started = time.perf_counter()
    with open_views() as (_ledger, _runner, reader):
        rows = reader.report_script(
            ScriptFilter(integration=integration, keyed=False if unkeyed else None)
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if fmt == ExportFormat.csv:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            n = write_csv(rows, fh)
    else:
        n = write_xlsx(rows, tmp)
    tmp.replace(out)
    console.print(f"{n} row(s) written to {out} in {time.perf_counter() - started:.2f} s")
