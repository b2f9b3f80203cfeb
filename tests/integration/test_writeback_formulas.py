"""Flat writeback files (CSV, XLSX) never carry a live spreadsheet formula; numbers stay numbers."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from adapters.settings import Settings, build_ledger
from adapters.writeback.pump import Pump
from domain import Ledger
from domain.commands import ReceiveErpOrder, RecordResult, ReportQuantity, StartOperation
from tests.support.writeback import ERP, OPERATOR, an_order, config

PAYLOAD = "=cmd|' /C calc'!A0"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    app = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}"))  # type: ignore[arg-type]
    try:
        yield app
    finally:
        app.close()


def _write(ledger: Ledger, tmp_path: Path, fmt: str) -> Path:
    """An operator records a result whose serial and batch look like formulas; the pump writes."""
    ledger.execute(ReceiveErpOrder(an_order("X-1"), integration="erp"), ERP)
    ledger.execute(StartOperation("X-1", "10", integration="erp"), OPERATOR)
    ledger.execute(ReportQuantity("X-1", "10", good=7, integration="erp"), OPERATOR)
    ledger.execute(
        RecordResult(
            "X-1", "10", passed=True, serial=PAYLOAD, batch="@SUM(1+1)", integration="erp"
        ),
        OPERATOR,
    )
    outbox = tmp_path / "outbox"
    dest = {"name": "erp-files", "transport": "files", "outbox": str(outbox), "format": fmt}
    pump = Pump(ledger, config(tmp_path, [dest]))
    try:
        pump.run_once()
    finally:
        pump.close()
    (path,) = outbox.iterdir()
    return path


def test_an_xlsx_writeback_file_holds_a_formula_like_serial_as_text_and_quantities_as_numbers(
    tmp_path: Path, ledger: Ledger
) -> None:
    path = _write(ledger, tmp_path, "xlsx")
    ws = load_workbook(path).active
    assert ws is not None
    rows = list(ws.iter_rows())
    header = [c.value for c in rows[0]]
    serials = [r[header.index("serial")] for r in rows[1:] if r[header.index("serial")].value]
    (serial,) = serials
    assert serial.data_type == "s" and serial.value == "'" + PAYLOAD
    batch = next(r[header.index("batch")] for r in rows[1:] if r[header.index("batch")].value)
    assert batch.data_type == "s" and batch.value == "'@SUM(1+1)"
    goods = [r[header.index("good")] for r in rows[1:] if r[header.index("good")].value is not None]
    assert [(g.data_type, g.value) for g in goods] == [("n", 7)]
    positions = [r[header.index("position")] for r in rows[1:]]
    assert all(p.data_type == "n" for p in positions)
    assert not [c for r in rows for c in r if c.data_type == "f"]  # no formula cell at all


def test_a_csv_writeback_file_quotes_formula_starts_and_writes_numbers_plainly(
    tmp_path: Path, ledger: Ledger
) -> None:
    path = _write(ledger, tmp_path, "csv")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["serial"] for r in rows if r["serial"]] == ["'" + PAYLOAD]
    assert [r["batch"] for r in rows if r["batch"]] == ["'@SUM(1+1)"]
    assert [r["good"] for r in rows if r["good"]] == ["7"]
    for r in rows:
        assert not [v for v in r.values() if v and v[0] in "=+-@\t\r"], r
