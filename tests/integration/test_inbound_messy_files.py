"""Messy ERP exports in the watched inbox (issue #12), with real files and a real Ledger
on SQLite and PostgreSQL: refused by name, never guessed, never stranded."""

from __future__ import annotations

import functools
import io
import json
import os
import time
import tracemalloc
import zipfile
from decimal import InvalidOperation
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from adapters.config import Integration, parse_config
from adapters.inbound.files import FileOutcome, Inbox
from adapters.inbound.worker import Worker
from domain import Ledger
from domain.commands import ReceiveErpOrder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inbound"
HEADER = (
    "order_no,part_no,quantity,unit,state,work_centre,op_id,op_work_centre,setup_time,run_time\n"
)
GOOD = (
    HEADER
    + "WO-1,P-1,50,ST,REL,PG-10,0010,PG-10,15,0.5\n"
    + "WO-1,P-1,50,ST,REL,PG-10,0020,PG-20,30,1.5\n"
    + "WO-2,P-2,10,ST,REL,PG-30,0010,PG-30,10,0.2\n"
)


def integration(tmp_path: Path, fmt: str = "csv", **inbound: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "plant1",
        "mode": "B",
        "inbound": {
            "transport": "files",
            "inbox": str(tmp_path / "in"),
            "archive": str(tmp_path / "archive"),
            "error": str(tmp_path / "error"),
            "format": fmt,
            "settle_seconds": 0,
            **inbound,
        },
    }
    if fmt != "b2mml":
        data["fields"] = {"released_values": ["REL"]}
    return data


def make_inbox(tmp_path: Path, fmt: str = "csv", **inbound: Any) -> Inbox:
    inbox = Inbox(Integration.model_validate(integration(tmp_path, fmt, **inbound)))
    inbox.ensure_dirs()
    return inbox


def write(inbox: Inbox, name: str, data: bytes | str, *, age: float = 60) -> Path:
    target = inbox.config.inbox / name
    target.write_bytes(data.encode() if isinstance(data, str) else data)
    past = time.time() - age
    os.utime(target, (past, past))
    return target


def report_of(outcome: FileOutcome) -> dict[str, Any]:
    assert outcome.report is not None and outcome.report.exists()
    data: dict[str, Any] = json.loads(outcome.report.read_text(encoding="utf-8"))
    return data


def routing(ledger: Ledger, order_no: str) -> list[str]:
    return ledger.get_order(order_no, "plant1").routing_ids()


# ---------------------------------------------------------------- 1. a bad row refuses its order


def test_a_short_row_does_not_take_an_operation_away_from_an_imported_order(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path)
    write(inbox, "a.csv", GOOD)
    (first,) = inbox.poll(ledger)
    assert first.status == "archived" and routing(ledger, "WO-1") == ["0010", "0020"]
    # The ERP's next export cut WO-1's second row short.
    write(inbox, "b.csv", GOOD.replace("0020,PG-20,30,1.5", "0020"))
    (second,) = inbox.poll(ledger)
    assert second.status == "error"
    assert routing(ledger, "WO-1") == ["0010", "0020"]
    assert second.summary.changed == [] and second.summary.unchanged == ["WO-2"]
    errors = report_of(second)["errors"]
    assert {e["order_no"] for e in errors} == {"WO-1"}
    assert any(e["row"] == 3 and "7 fields, the header has 10" in e["message"] for e in errors)


def test_an_unterminated_quote_refuses_every_order_it_swallowed_and_names_them(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path)
    text = GOOD.replace("WO-1,P-1,50,ST,REL,PG-10,0010", 'WO-1,"P-1,50,ST,REL,PG-10,0010', 1)
    text += "WO-3,P-3,5,ST,REL,PG-10,0010,PG-10,1,1\n"
    write(inbox, "plan.csv", text)
    (outcome,) = inbox.poll(ledger)
    assert outcome.status == "error" and outcome.summary.released == []
    errors = report_of(outcome)["errors"]
    opening = next(e for e in errors if e["row"] == 2 and e["field"] == "line")
    assert "opens a quote that is not closed before line 5" in opening["message"]
    assert "(orders WO-1, WO-2, WO-3)" in opening["message"]
    assert {e["order_no"] for e in errors} == {"WO-1", "WO-2", "WO-3"}


# ---------------------------------------------------------------- 2. numbers never crash a file


@pytest.mark.parametrize("value", ["1e30", "1E+400", "Infinity", "NaN"])
def test_an_absurd_time_refuses_its_order_and_the_good_orders_are_imported(
    ledger: Ledger, tmp_path: Path, value: str
) -> None:
    inbox = make_inbox(tmp_path)
    write(inbox, "plan.csv", GOOD.replace("PG-30,10,0.2", f"PG-30,{value},0.2"))
    (outcome,) = inbox.poll(ledger)
    assert outcome.status == "error" and outcome.summary.released == ["WO-1"]
    (error,) = report_of(outcome)["errors"]
    assert (error["order_no"], error["field"], error["value"]) == ("WO-2", "setup_time", value)
    assert list(inbox.processing.iterdir()) == []


@pytest.mark.parametrize("value", ["Infinity", "1e400", "1e30"])
def test_an_absurd_b2mml_time_refuses_its_request_and_the_rest_are_imported(
    ledger: Ledger, tmp_path: Path, value: str
) -> None:
    inbox = make_inbox(tmp_path, "b2mml")
    data = (FIXTURES / "production_schedule.xml").read_bytes()
    data = data.replace(
        b"<ValueString>15</ValueString>", f"<ValueString>{value}</ValueString>".encode(), 1
    )
    write(inbox, "schedule.xml", data)
    (outcome,) = inbox.poll(ledger)
    assert outcome.status == "error" and outcome.summary.released == ["WO-1002"]
    (error,) = report_of(outcome)["errors"]
    assert error["order_no"] == "WO-1001" and error["value"] == value
    assert "SetupTime" in error["field"]


def test_a_workbook_that_breaks_the_reader_goes_to_the_error_folder_and_the_next_file_is_read(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path, "xlsx")
    buf = io.BytesIO()
    with zipfile.ZipFile(FIXTURES / "plan.xlsx") as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename.startswith("xl/worksheets/"):
                body = body[: len(body) // 2]  # the sheet's XML is cut off mid-element
            dst.writestr(info, body)
    write(inbox, "a-broken.xlsx", buf.getvalue(), age=120)
    write(inbox, "b-good.xlsx", (FIXTURES / "plan.xlsx").read_bytes())
    broken, good = inbox.poll(ledger)
    assert broken.status == "error" and broken.moved_to.parent == tmp_path / "error"
    (error,) = report_of(broken)["errors"]
    assert error["field"] == "document" and "cannot be read" in error["message"]
    assert good.summary.released == ["5001", "5002"]
    assert list(inbox.processing.iterdir()) == []


def test_a_failure_inside_the_import_moves_the_file_aside_and_sync_once_carries_on(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_config({"integrations": [integration(tmp_path)]})
    (tmp_path / "in").mkdir()
    execute = ledger.execute

    def receive_or_fail(command: Any, *args: Any, **kw: Any) -> Any:
        if isinstance(command, ReceiveErpOrder) and command.order.order_no == "WO-9":
            raise InvalidOperation("[<class 'decimal.InvalidOperation'>]")
        return execute(command, *args, **kw)

    monkeypatch.setattr(ledger, "execute", receive_or_fail)
    poison = HEADER + "WO-9,P-9,5,ST,REL,PG-10,0010,PG-10,1,1\n"
    inbox_dir = tmp_path / "in"
    for name, text, age in (("a.csv", poison, 120), ("b.csv", GOOD, 60)):
        (inbox_dir / name).write_text(text, encoding="utf-8")
        os.utime(inbox_dir / name, (time.time() - age, time.time() - age))
    summary = Worker(config, ledger).run_once()["plant1"]
    assert summary.released == ["WO-1", "WO-2"]
    assert any("InvalidOperation" in e for e in summary.errors)
    report = json.loads((tmp_path / "error" / "a.csv.errors.json").read_text(encoding="utf-8"))
    assert any("the import stopped: InvalidOperation" in e for e in report["ledger_errors"])
    assert (tmp_path / "archive" / "b.csv").exists()
    assert list((inbox_dir / ".processing").iterdir()) == []


# ---------------------------------------------------------------- 6. limits before memory grows


@functools.cache
def zip_bomb_workbook(unpacked: int) -> bytes:
    """A real workbook whose sheet is padded to ``unpacked`` bytes of XML whitespace."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["order_no", "part_no", "quantity", "unit", "state"])
    ws.append(["WO-1", "P-1", 5, "ST", "REL"])
    plain = io.BytesIO()
    wb.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = body.replace(b"<sheetData>", b"<sheetData>" + b" " * unpacked, 1)
            dst.writestr(info.filename, body, zipfile.ZIP_DEFLATED, 9)
    return out.getvalue()


def test_a_zip_bomb_workbook_is_refused_by_its_declared_size_before_it_is_unpacked(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path, "xlsx")  # default max_unpacked_bytes: 100 MiB
    bomb = zip_bomb_workbook(120 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024
    write(inbox, "plan.xlsx", bomb)
    tracemalloc.start()
    try:
        (outcome,) = inbox.poll(ledger)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.status == "error" and outcome.summary.released == []
    (error,) = report_of(outcome)["errors"]
    assert "more than max_unpacked_bytes = 104857600" in error["message"]
    assert peak < 20 * 1024 * 1024  # the 120 MiB sheet was never unpacked


def test_limits_are_configured_per_integration_and_refuse_the_whole_file(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path, max_file_bytes=len(GOOD) - 1)
    write(inbox, "big.csv", GOOD)
    (outcome,) = inbox.poll(ledger)
    (error,) = report_of(outcome)["errors"]
    assert error["message"] == (
        f"is {len(GOOD)} bytes, more than max_file_bytes = {len(GOOD) - 1}; nothing of it was read"
    )
    rows = make_inbox(tmp_path / "rows", max_rows=2)
    write(rows, "long.csv", GOOD)
    (outcome,) = rows.poll(ledger)
    assert outcome.status == "error" and outcome.summary.released == []
    assert "more than 2 data rows (max_rows = 2)" in report_of(outcome)["errors"][0]["message"]
    unpacked = make_inbox(tmp_path / "xl", "xlsx", max_unpacked_bytes=100_000)
    write(unpacked, "plan.xlsx", zip_bomb_workbook(200_000))
    (outcome,) = unpacked.poll(ledger)
    assert "more than max_unpacked_bytes = 100000" in report_of(outcome)["errors"][0]["message"]
    assert ledger.find_order("WO-1", "plant1") is None


# ---------------------------------------------------------------- 7. complete files only


def test_with_a_done_marker_a_file_is_read_only_once_its_marker_exists(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path, done_suffix=".done", settle_seconds=600)
    partial = write(inbox, "plan.csv", GOOD[: len(GOOD) // 2], age=3600)  # settled, not done
    assert inbox.poll(ledger) == []
    partial.write_text(GOOD, encoding="utf-8")  # the writer finishes, then drops the marker
    (inbox.config.inbox / "plan.csv.done").write_bytes(b"")
    (outcome,) = inbox.poll(ledger)  # no settle wait: the marker says it is complete
    assert outcome.status == "archived" and outcome.summary.released == ["WO-1", "WO-2"]
    assert sorted(p.name for p in inbox.config.inbox.iterdir()) == [".processing"]
    assert list(inbox.processing.iterdir()) == []


def test_files_under_a_configured_temporary_name_are_never_read(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path, temp_patterns=["*.inprogress", "tmp_*"])
    write(inbox, "plan.csv.inprogress", GOOD)
    write(inbox, "tmp_plan.csv", GOOD)
    assert inbox.poll(ledger) == []
    os.rename(inbox.config.inbox / "tmp_plan.csv", inbox.config.inbox / "plan.csv")
    (outcome,) = inbox.poll(ledger)
    assert outcome.name == "plan.csv" and outcome.status == "archived"


# ---------------------------------------------------------------- 8. messages that name the problem


def test_a_byte_order_mark_with_a_cp1252_setting_is_reported_with_the_fix(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path, encoding="cp1252")
    write(inbox, "plan.csv", b"\xef\xbb\xbf" + GOOD.encode())
    (outcome,) = inbox.poll(ledger)
    (error,) = report_of(outcome)["errors"]
    assert error["message"] == (
        "the file starts with a UTF-8 byte-order mark but encoding is cp1252: "
        'set encoding = "utf-8-sig"'
    )


def test_a_utf16_file_is_reported_as_utf16_not_as_a_bad_header(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path)
    write(inbox, "plan.csv", GOOD.encode("utf-16"))
    (outcome,) = inbox.poll(ledger)
    (error,) = report_of(outcome)["errors"]
    assert "UTF-16 byte-order mark" in error["message"] and "header" not in error["message"]


def test_a_huge_xml_text_node_is_explained_without_libxml_advice(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path, "b2mml")
    data = (FIXTURES / "production_schedule.xml").read_bytes()
    huge = b"<Description>" + b"x" * 10_000_001 + b"</Description>"
    write(inbox, "schedule.xml", data.replace(b"<Description>Cover plate</Description>", huge))
    (outcome,) = inbox.poll(ledger)
    (error,) = report_of(outcome)["errors"]
    assert "has a text node longer than 10,000,000 characters" in error["message"]
    assert "XML_PARSE_HUGE" not in error["message"]
