"""Report-script export: CSV and XLSX hold the rows, and formula-like text is neutralised."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from openpyxl import load_workbook

from projections.export import HEADERS, neutralise, to_csv, to_xlsx
from projections.script import ScriptRow


def _row(row_id: str, note: str, operator: str = "anna") -> ScriptRow:
    return ScriptRow(
        row_id=row_id,
        kind="report",
        integration="erp",
        order_no="4711",
        op_id="10",
        work_centre="LASER-1",
        started_at="2030-01-01T08:00:00.000000+00:00",
        ended_at="2030-01-01T09:30:00.000000+00:00",
        duration_s=5400.0,
        good=Decimal(48),
        scrap={"BURR": Decimal(2), "DENT": Decimal("0.5")},
        rework=Decimal(1),
        operator=operator,
        note=note,
        recorded_at="2030-01-01T09:31:00.000000+00:00",
        keyed=False,
        keyed_at=None,
        keyed_by=None,
        position=7,
    )


ROWS = [
    _row("report:a", '=HYPERLINK("http://evil","x")'),
    _row("report:b", "fine", operator="+bob"),
    _row("report:c", "-1+1"),
    _row("report:d", "@SUM(A1)"),
    _row("report:e", "\tcmd"),
    _row("report:f", "\rcmd"),
]


def test_text_starting_like_a_formula_gets_a_leading_quote() -> None:
    for text in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert neutralise(text) == "'" + text
    assert neutralise("plain") == "plain"
    assert neutralise("") == ""
    assert neutralise("a=b") == "a=b"


def test_an_exported_xlsx_reread_holds_the_same_rows_with_formulas_neutralised() -> None:
    wb = load_workbook(io.BytesIO(to_xlsx(ROWS)))
    ws = wb.active
    assert ws is not None
    values = [list(r) for r in ws.iter_rows(values_only=True)]
    assert tuple(values[0]) == HEADERS
    body = values[1:]
    assert [r[0] for r in body] == [r.row_id for r in ROWS]
    note = HEADERS.index("note")
    assert body[0][note] == '\'=HYPERLINK("http://evil","x")'
    assert body[1][HEADERS.index("operator")] == "'+bob"
    assert [r[note][0] for r in body[2:]] == ["'"] * 4
    first = dict(zip(HEADERS, body[0], strict=True))
    assert (first["good"], first["scrap"], first["rework"]) == (48, 2.5, 1)
    assert first["duration_min"] == 90
    assert first["scrap_by_reason"] == "BURR: 2; DENT: 0.5"
    assert first["keyed"] == "no"
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f"  # no cell is a formula


def test_an_exported_csv_holds_the_same_rows_with_formulas_neutralised() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(ROWS))))
    assert tuple(rows[0]) == HEADERS
    assert [r[0] for r in rows[1:]] == [r.row_id for r in ROWS]
    assert rows[1][HEADERS.index("note")].startswith("'=")
    assert rows[5][HEADERS.index("note")] == "'\tcmd"
