"""The Excel reader (calamine) gives each cell the type the plan's author typed."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import openpyxl

from adapters.inbound.parsers import _calamine_sheets, parse_xlsx
from adapters.mapping import Record, RowError

HEADER = ["order_no", "quantity", "run_time", "due_date", "start", "shift", "rush", "note"]


def a_workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Plan"
    ws.append(HEADER)
    ws.append(["00123", 100, 2.5, date(2026, 1, 2), datetime(2026, 1, 2, 3, 4, 5), time(8, 30),
               True, None])  # fmt: skip
    ws.append([123, -3, 0.1, "2026-01-02", None, None, False, "007"])
    wb.save(path)
    return path


def test_text_numbers_dates_and_empty_cells_keep_their_types(tmp_path: Path) -> None:
    items = list(parse_xlsx(a_workbook(tmp_path / "plan.xlsx"), order_field="order_no"))
    first, second = (i.data for i in items if isinstance(i, Record))
    assert first == {
        "order_no": "00123",  # text with leading zeros stays text
        "quantity": 100,  # a whole number is an int, not 100.0
        "run_time": 2.5,
        "due_date": datetime(2026, 1, 2),  # a date cell is a date (at midnight)
        "start": datetime(2026, 1, 2, 3, 4, 5),
        "shift": time(8, 30),
        "rush": True,
        "note": None,  # an empty cell is None
    }
    assert second == {
        "order_no": 123,
        "quantity": -3,
        "run_time": 0.1,
        "due_date": "2026-01-02",
        "start": None,
        "shift": None,
        "rush": False,
        "note": "007",
    }
    assert isinstance(first["quantity"], int) and isinstance(second["order_no"], int)


def test_calamine_reads_the_workbook_with_the_same_values_as_openpyxl(tmp_path: Path) -> None:
    path = a_workbook(tmp_path / "plan.xlsx")
    _, rows = _calamine_sheets(path)
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    expected = [list(r) for r in wb["Plan"].iter_rows(values_only=True)]
    wb.close()
    assert [list(r) for r in rows("Plan")] == expected


def test_a_file_that_is_no_workbook_is_refused_naming_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "plan.xlsx"
    path.write_bytes(b"order_no,quantity\nA,1\n")
    (err,) = list(parse_xlsx(path))
    assert isinstance(err, RowError) and err.row is None
    assert "is not a readable Excel workbook" in err.message
