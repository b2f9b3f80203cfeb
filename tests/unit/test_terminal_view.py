"""What the terminal shows: the report draft counts only what was captured since the last
report; reasons are shown by label."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from adapters.reasons import ReasonCatalogue, ReasonCode
from api.pages.terminal_view import describe, report_draft

T0 = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


@dataclass
class Entry:
    event: str
    details: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None
    recorded_at: datetime = T0
    summary: str = ""


def at(minute: int) -> datetime:
    return T0.replace(minute=minute)


def test_the_report_draft_holds_what_was_captured_since_the_last_report() -> None:
    entries = [
        Entry("OperationStarted", {"op_id": "10"}, at(0)),
        Entry("QuantityReported", {"good": Decimal(30), "scrap": Decimal(2),
                                   "scrap_reason": "BURR", "rework": Decimal(0)}, at(20)),
        Entry("ReportSubmitted", {"good": Decimal(30), "scrap": {"BURR": Decimal(2)},
                                  "rework": Decimal(0), "ended_at": at(21)}, at(21)),
        Entry("QuantityReported", {"good": Decimal(12), "scrap": Decimal(1),
                                   "scrap_reason": "DIM", "rework": Decimal(3)}, at(40)),
    ]  # fmt: skip
    draft = report_draft(entries)
    assert draft.started_at == at(21)
    assert draft.last_report_at == at(21)
    assert (draft.good, draft.scrap, draft.rework) == (12, {"DIM": 1}, 3)


def test_a_first_report_runs_from_the_operations_start() -> None:
    draft = report_draft([Entry("OperationStarted", {}, at(5))])
    assert draft.started_at == at(5) and draft.last_report_at is None
    assert (draft.good, draft.scrap, draft.rework) == (0, {}, 0)


def test_the_history_shows_reasons_by_label() -> None:
    reasons = ReasonCatalogue({"erp": [ReasonCode("stop", "MAT", "Waiting for material"),
                                       ReasonCode("scrap", "BURR", "Burr on edge")]})  # fmt: skip
    paused = Entry("OperationPaused", {"reason_code": "MAT"})
    scrap = Entry("QuantityReported", {"good": "5", "scrap": "2", "scrap_reason": "BURR",
                                       "rework": "0"})  # fmt: skip
    unknown = Entry("OperationPaused", {"reason_code": "COFFEE"})
    assert describe(paused, reasons, "erp") == "paused: Waiting for material"
    assert describe(scrap, reasons, "erp") == "reported good 5, scrap 2 (Burr on edge)"
    assert describe(unknown, reasons, "erp") == "paused: COFFEE"
