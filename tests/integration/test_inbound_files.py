"""The watched inbox with real files and a real Ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from adapters.config import Integration
from adapters.inbound.files import Inbox, is_temporary, total
from adapters.inbound.parsers import parse_b2mml
from adapters.inbound.sync import apply_batch, open_orders_in_ledger
from adapters.mapping import map_records
from domain import Actor, Ledger, OrderState
from domain.commands import StartOperation

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inbound"
OPERATOR = Actor("op-7", "operator", "api")


def make_inbox(tmp_path: Path, fmt: str = "csv", **over: Any) -> Inbox:
    inbound: dict[str, Any] = {
        "transport": "files",
        "inbox": str(tmp_path / "in"),
        "archive": str(tmp_path / "archive"),
        "error": str(tmp_path / "error"),
        "format": fmt,
        "settle_seconds": 0,
    }
    inbound.update(over.pop("inbound", {}))
    data: dict[str, Any] = {"name": "plant1", "mode": "B", "inbound": inbound}
    if fmt in ("csv", "xlsx"):
        data["fields"] = {"released_values": ["REL"], "cancelled_values": ["CNL"]}
    data.update(over)
    inbox = Inbox(Integration.model_validate(data))
    inbox.ensure_dirs()
    return inbox


def drop(inbox: Inbox, fixture: str, name: str | None = None) -> Path:
    target = inbox.config.inbox / (name or fixture)
    shutil.copyfile(FIXTURES / fixture, target)
    past = time.time() - 60
    os.utime(target, (past, past))
    return target


def test_a_plan_file_is_claimed_imported_and_archived(ledger: Ledger, tmp_path: Path) -> None:
    inbox = make_inbox(tmp_path)
    drop(inbox, "plan.csv")
    (outcome,) = inbox.poll(ledger)
    assert outcome.status == "archived" and outcome.report is None
    assert outcome.moved_to == tmp_path / "archive" / "plan.csv" and outcome.moved_to.exists()
    assert outcome.summary.released == ["WO-1001", "WO-1002"]
    assert outcome.summary.not_released == ["WO-1003"]
    assert list(inbox.config.inbox.iterdir()) == [inbox.processing]
    assert list(inbox.processing.iterdir()) == []
    assert ledger.get_order("WO-1001", "plant1").routing_ids() == ["0010", "0020"]
    # The same file dropped again imports nothing new and does not overwrite the archive.
    drop(inbox, "plan.csv")
    (again,) = inbox.poll(ledger)
    assert again.summary.unchanged == ["WO-1001", "WO-1002"] and again.moved_to.exists()
    assert len(list((tmp_path / "archive").iterdir())) == 2


def test_a_file_with_one_bad_row_imports_the_good_rows_and_reports_the_bad_one(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path)
    drop(inbox, "plan_bad_row.csv")
    (outcome,) = inbox.poll(ledger)
    assert outcome.status == "error"
    assert outcome.moved_to == tmp_path / "error" / "plan_bad_row.csv"
    assert outcome.summary.released == ["WO-2001", "WO-2005"]
    assert ledger.find_order("WO-2002", "plant1") is None
    assert outcome.report == tmp_path / "error" / "plan_bad_row.csv.errors.json"
    report = json.loads(outcome.report.read_text(encoding="utf-8"))
    assert report["file"] == "plan_bad_row.csv" and report["imported"]["released"] == 2
    assert {(e["row"], e["field"], e["value"]) for e in report["errors"]} == {
        (3, "quantity", "twelve"),
        (4, "quantity", "-5"),
        (5, "line", "WO-2004,P-400,Plate,8,ST,2025-03-19,1,REL,PG-30"),
    }
    assert all(e["message"] for e in report["errors"])


def test_a_file_still_being_written_is_not_read(ledger: Ledger, tmp_path: Path) -> None:
    inbox = make_inbox(tmp_path, inbound={"settle_seconds": 30})
    fresh = inbox.config.inbox / "plan.csv"
    shutil.copyfile(FIXTURES / "plan.csv", fresh)  # modified just now
    for temp in ("plan.csv.tmp", ".~lock.plan.csv#", "~$plan.xlsx", "upload.part"):
        drop(inbox, "plan.csv", temp)
    assert inbox.poll(ledger) == []
    assert ledger.find_order("WO-1001", "plant1") is None
    assert is_temporary("plan.csv.tmp") and not is_temporary("plan.csv")
    # Once the writer has been quiet for settle_seconds, the file is taken.
    inbox.clock = lambda: time.time() + 31
    (outcome,) = inbox.poll(ledger)
    assert outcome.name == "plan.csv" and outcome.status == "archived"
    left = {p.name for p in inbox.config.inbox.iterdir() if p.is_file()}
    assert left == {"plan.csv.tmp", ".~lock.plan.csv#", "~$plan.xlsx", "upload.part"}


def test_a_file_that_grew_since_the_last_look_waits_for_the_next_poll(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path, inbound={"settle_seconds": 5})
    growing = drop(inbox, "plan.csv")
    assert inbox.ready() == [growing]
    with growing.open("a", encoding="utf-8") as f:
        f.write("WO-1004,P-1,x,1,ST,,0,REL,PG-10,0010,Saw,PG-10,1,1\n")
    past = time.time() - 60
    os.utime(growing, (past, past))
    assert inbox.ready() == []
    assert inbox.ready() == [growing]


def test_an_xml_bomb_is_refused_and_moved_to_the_error_folder_with_a_report(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path, "b2mml")
    drop(inbox, "xml_bomb.xml")
    (outcome,) = inbox.poll(ledger)
    assert outcome.status == "error" and outcome.report is not None
    report = json.loads(outcome.report.read_text(encoding="utf-8"))
    (error,) = report["errors"]
    assert error["row"] is None and error["field"] == "document"
    assert "XML bomb" in error["message"]
    assert outcome.summary.counts()["released"] == 0


def test_a_b2mml_schedule_in_the_inbox_releases_orders_and_cancels_withdrawn_ones(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path, "b2mml")
    old = Integration.model_validate(
        inbox.integration.model_dump() | {"fields": {"operations": "operations"}}
    )
    # WO-0999 was released earlier; the new schedule withdraws it.
    earlier = (
        (FIXTURES / "production_schedule.xml")
        .read_bytes()
        .replace(
            b'<RequestState OtherValue="Cancelled">Other</RequestState>',
            b"<RequestState>Released</RequestState>",
        )
    )
    mapped = map_records(parse_b2mml(earlier), old.field_map, old.maps)
    apply_batch(old, ledger, [m for m in mapped.orders if m.order_no == "WO-0999"])
    assert ledger.get_order("WO-0999", "plant1").state == OrderState.RELEASED
    drop(inbox, "production_schedule.xml")
    (outcome,) = inbox.poll(ledger)
    assert outcome.status == "archived"
    assert outcome.summary.released == ["WO-1001", "WO-1002"]
    assert outcome.summary.cancelled == ["WO-0999"]
    assert ledger.get_order("WO-0999", "plant1").state == OrderState.CANCELLED


def test_a_full_plan_file_cancels_open_orders_it_no_longer_lists(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path, full_plan=True)

    def open_orders() -> list[str]:
        return open_orders_in_ledger(ledger, "plant1")

    drop(inbox, "plan.csv", "monday.csv")
    inbox.poll(ledger, open_orders=open_orders)
    ledger.execute(StartOperation("WO-1002", "0010", integration="plant1"), OPERATOR)
    tuesday = inbox.config.inbox / "tuesday.csv"
    lines = (FIXTURES / "plan.csv").read_text(encoding="utf-8").splitlines()
    tuesday.write_text("\n".join(lines[:1]) + "\n" + lines[4] + "\n", encoding="utf-8")
    past = time.time() - 60
    os.utime(tuesday, (past, past))
    outcomes = inbox.poll(ledger, open_orders=open_orders)
    summary = total(outcomes, "plant1")
    assert summary.cancelled == ["WO-1001"] and summary.conflicts == ["WO-1002"]
    assert ledger.get_order("WO-1002", "plant1").state == OrderState.IN_PROGRESS


def test_an_excel_plan_with_a_bad_cell_imports_the_rest(ledger: Ledger, tmp_path: Path) -> None:
    inbox = make_inbox(tmp_path, "xlsx", inbound={"pattern": "*.xlsx"})
    drop(inbox, "plan.xlsx")
    drop(inbox, "plan.csv")  # not matching the pattern: left alone
    (outcome,) = inbox.poll(ledger)
    assert outcome.status == "error" and outcome.summary.released == ["5001", "5002"]
    report = json.loads(outcome.report.read_text(encoding="utf-8")) if outcome.report else {}
    assert [(e["row"], e["field"], e["value"]) for e in report["errors"]] == [
        (6, "quantity", "lots")
    ]
    assert (inbox.config.inbox / "plan.csv").exists()


def test_files_left_in_processing_by_a_stopped_worker_are_recovered(
    ledger: Ledger, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path)
    claimed = inbox.claim(drop(inbox, "plan.csv"))
    assert claimed is not None and claimed.parent == inbox.processing
    assert inbox.claim(inbox.config.inbox / "plan.csv") is None  # already taken
    assert inbox.recover() == [inbox.config.inbox / "plan.csv"]
    (outcome,) = inbox.poll(ledger)
    assert outcome.status == "archived"


def test_an_inbox_needs_a_files_integration() -> None:
    rest = Integration.model_validate(
        {"name": "r", "mode": "B", "inbound": {"transport": "rest", "url": "https://e/x"}}
    )
    with pytest.raises(ValueError, match="does not read files"):
        Inbox(rest)


def test_a_completed_import_whose_file_disappears_before_archiving_keeps_its_summary(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import adapters.inbound.files as files

    real = files.apply_mapping

    def import_then_lose_the_file(*args: Any, **kwargs: Any) -> Any:
        summary = real(*args, **kwargs)
        for f in (tmp_path / "in" / ".processing").iterdir():
            f.unlink()  # an operator or a cleanup job removes it meanwhile
        return summary

    monkeypatch.setattr(files, "apply_mapping", import_then_lose_the_file)
    inbox = make_inbox(tmp_path)
    drop(inbox, "plan.csv")
    (outcome,) = inbox.poll(ledger)
    assert outcome.status == "archived"
    assert outcome.summary.released == ["WO-1001", "WO-1002"]
    assert any("disappeared" in w and "plan.csv" in w for w in outcome.summary.warnings)
    assert ledger.get_order("WO-1001", "plant1").routing_ids() == ["0010", "0020"]


def test_a_pass_whose_file_vanishes_before_archiving_logs_its_summary_and_names_the_file(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """The sync worker's pass (issue #11, item 10): the file is removed on the real filesystem
    after the import and before the move to the archive; the pass is not a failure."""
    import logging

    from adapters.config import IntegrationsConfig
    from adapters.inbound.worker import Worker

    inbox = make_inbox(tmp_path)
    config = IntegrationsConfig.model_validate({"integrations": [inbox.integration.model_dump()]})
    drop(inbox, "plan.csv")
    removed: list[str] = []
    real_drop_marker = Inbox._drop_marker

    def then_a_cleanup_job_removes_the_file(self: Inbox, claimed: Path) -> None:
        real_drop_marker(self, claimed)  # the step between the import and the archiving
        claimed.unlink()
        removed.append(claimed.name)

    monkeypatch.setattr(Inbox, "_drop_marker", then_a_cleanup_job_removes_the_file)
    with caplog.at_level(logging.INFO, logger="floorledger.sync"):
        summary = Worker(config, ledger).run_once()["plant1"]
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert removed == ["plan.csv"]
    assert summary.released == ["WO-1001", "WO-1002"] and summary.errors == []
    assert ("INFO", "sync plant1: order WO-1001 released") in lines
    assert any(
        level == "WARNING" and "plan.csv: the file disappeared before it could be moved" in m
        for level, m in lines
    ), lines
    assert not any("pass failed" in m for _, m in lines)
    assert list((tmp_path / "archive").iterdir()) == []
    assert ledger.get_order("WO-1002", "plant1").routing_ids()
