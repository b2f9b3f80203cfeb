"""Export of the report script as CSV or XLSX for keying into the ERP by hand.

Text cells that a spreadsheet would read as a formula (starting with =, +, -, @, tab or
carriage return) get a leading single quote, so an operator's note or a reason code can
never run as a formula in the planner's spreadsheet (CSV/formula injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from projections.script import ScriptRow

HEADERS: tuple[str, ...] = (
    "row_id",
    "order_no",
    "integration",
    "operation",
    "work_centre",
    "kind",
    "start",
    "end",
    "duration_min",
    "good",
    "scrap",
    "scrap_by_reason",
    "rework",
    "operator",
    "note",
    "keyed",
    "keyed_at",
    "keyed_by",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """A text cell made safe against formula injection (a leading quote when needed)."""
    if value and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def spreadsheet_cell(value: Any) -> Any:
    """A cell for a spreadsheet or CSV file: numbers stay numbers, text is neutralised.

    The one rule of every file floorledger writes for a spreadsheet (report script exports,
    CSV and XLSX writeback).
    """
    return neutralise(value) if isinstance(value, str) else value


def _num(d: Decimal) -> int | Decimal:
    """A quantity as a spreadsheet number (exact: openpyxl writes Decimals as numbers)."""
    if d == d.to_integral_value():
        return int(d)
    return d


def row_values(row: ScriptRow) -> list[Any]:
    """One report-script row as export cells (numbers stay numbers, text is neutralised)."""
    scrap_total = sum(row.scrap.values(), Decimal(0))
    by_reason = "; ".join(f"{k}: {v}" for k, v in sorted(row.scrap.items()))
    cells: list[Any] = [
        row.row_id,
        row.order_no,
        row.integration,
        row.op_id,
        row.work_centre,
        row.kind,
        row.started_at or "",
        row.ended_at or "",
        round(row.duration_s / 60, 2),
        _num(row.good),
        _num(scrap_total),
        by_reason,
        _num(row.rework),
        row.operator,
        row.note,
        "yes" if row.keyed else "no",
        row.keyed_at or "",
        row.keyed_by or "",
    ]
    return [spreadsheet_cell(c) for c in cells]


def write_csv(rows: Iterable[ScriptRow], out: TextIO) -> int:
    """Write the report script as CSV (header + rows); returns the number of rows."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADERS)
    n = 0
    for row in rows:
        writer.writerow(row_values(row))
        n += 1
    return n


def to_csv(rows: Iterable[ScriptRow]) -> str:
    """The report script as CSV text."""
    buf = io.StringIO()
    write_csv(rows, buf)
    return buf.getvalue()


def write_xlsx(rows: Iterable[ScriptRow], out: BinaryIO | str | Path) -> int:
    """Write the report script as an XLSX workbook; returns the number of rows."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("report script")
    ws.append(list(HEADERS))
    n = 0
    for row in rows:
        ws.append(row_values(row))
        n += 1
    wb.save(out)
    return n


def to_xlsx(rows: Iterable[ScriptRow]) -> bytes:
    """The report script as XLSX bytes."""
    buf = io.BytesIO()
    write_xlsx(rows, buf)
    return buf.getvalue()
