"""Writeback config validation and the event → message mapping through the value maps."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from adapters.config import ConfigError, ValueMaps
from adapters.writeback.config import kinds_for, outbound_of
from adapters.writeback.files import _validation_error, performance_document, performance_schema
from adapters.writeback.messages import Message, MessageBuilder
from adapters.writeback.pump import DestinationPump
from adapters.writeback.state import PumpState
from domain import Ledger
from domain.commands import SubmitReport
from projections.store import ViewStore
from tests.support.writeback import MAPS, OPERATOR, T0, config, work_order


def test_outbound_errors_name_the_key_and_value(tmp_path: Path) -> None:
    bad = [
        {"name": "r", "transport": "rest", "url": "ftp://x", "batch_size": 0},
        {"name": "s", "transport": "sql"},
        {"name": "q", "transport": "bogus"},
    ]
    cfg = config(tmp_path, bad)  # the integration itself accepts any outbound dict
    with pytest.raises(ConfigError) as info:
        outbound_of(cfg.integrations[0])
    problems = info.value.problems
    assert "integrations[erp].outbound.destinations[0].batch_size: 0 must be ≥ 1" in problems
    assert any(p.startswith("integrations[erp].outbound.destinations[0].url: 'ftp://x'")
               for p in problems)  # fmt: skip
    assert "integrations[erp].outbound.destinations[1].url: url_env or url_file is required" in (
        problems
    )
    assert any("destinations[2].transport: 'bogus' must be one of" in p for p in problems)


def test_mode_defaults_for_message_kinds(tmp_path: Path) -> None:
    dest = [{"name": "r", "transport": "rest", "url": "http://x"}]
    d_cfg, e_cfg = config(tmp_path, dest, mode="D"), config(tmp_path, dest, mode="E")
    d, e = d_cfg.integrations[0], e_cfg.integrations[0]
    assert "report" not in kinds_for(d, outbound_of(d).destinations[0])  # type: ignore[union-attr]
    assert kinds_for(e, outbound_of(e).destinations[0]) == ("report",)  # type: ignore[union-attr]


def _messages(tmp_path: Path) -> list[Message]:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                         "SQLITE_DBNAME": str(tmp_path / "l.db")})  # fmt: skip
    cfg = config(tmp_path, [{"name": "r", "transport": "rest", "url": "http://x"}])
    integ = cfg.integrations[0]
    work_order(ledger, "M-1")
    ledger.execute(
        SubmitReport(
            "M-1",
            "20",
            started_at=T0,
            ended_at=T0 + timedelta(minutes=30),
            good=2,
            scrap={"burr": 1},
            report_id="R9",
        ),
        OPERATOR,
    )
    ob = outbound_of(integ)
    assert ob is not None
    pump = DestinationPump(ledger, integ, ob.destinations[0], ob,
                           PumpState(ViewStore.for_ledger(ledger)))  # fmt: skip
    pump.builder.kinds = pump.builder.kinds | {"report"}
    pump.auto_reports = True
    msgs = pump.messages(ledger.recorder.select_notifications(1, 100))
    ledger.close()
    return msgs


def test_messages_map_operations_reasons_and_units_back_and_carry_live_timing(
    tmp_path: Path,
) -> None:
    msgs = _messages(tmp_path)
    by_event = {(m.event, m.data.get("floor_operation"), m.version): m for m in msgs}
    assert [m.version for m in msgs] == sorted(m.version for m in msgs)
    assert all(m.key == f"r:{m.order_key}:{m.version}" for m in msgs)
    q = by_event[("QuantityReported", "10", 3)].data
    assert (q["operation"], q["scrap_reason"], q["unit"], q["good"]) == ("OP-0010", "SCR-01", "ST",
                                                                         "8")  # fmt: skip
    paused = by_event[("OperationPaused", "10", 4)].data
    assert paused["stop_reason"] == "STP-01" and paused["operation_status"] == "in_progress"
    done = by_event[("OperationCompleted", "10", 7)].data
    # ran 0→12 min and 20→30 min: 22 minutes, for 8 good; standard 10 + 2 × 20 minutes
    assert done["timing"] == {
        "actual_seconds": "1320",
        "actual_seconds_per_unit": "165",
        "standard_seconds": "3000",
        "standard_seconds_per_unit": "120",
        "good_so_far": "8",
    }
    assert done["operation_status"] == "completed"
    result = by_event[("ResultRecorded", "10", 6)].data
    assert result["passed"] is True and result["serial"] == "S-M-1"
    order_done = next(m for m in msgs if m.event == "OrderCompleted")
    assert order_done.data["order_status"] == "completed" and order_done.data["good"] == "8"
    report = next(m for m in msgs if m.kind == "report")
    assert report.data["scrap"] == {"SCR-01": "1"}
    assert report.row()["scrap_reason"] == "SCR-01=1" and report.row()["scrap"] == "1"
    assert Message.loads(report.dumps()) == report


def test_b2mml_documents_validate_and_a_broken_message_is_refused(tmp_path: Path) -> None:
    msgs = _messages(tmp_path)
    schema = performance_schema()
    assert _validation_error(schema, performance_document(msgs, "doc-1")) is None
    broken = Message.loads(msgs[0].dumps().replace(msgs[0].occurred_at or "", "not-a-time"))
    assert "B2MML validation" in (_validation_error(schema, performance_document([broken], "d"))
                                  or "")  # fmt: skip


def test_reverse_maps_convert_quantities_to_the_erp_unit() -> None:
    maps = ValueMaps.model_validate({**MAPS, "units": {"BOX": {"unit": "pcs", "factor": "10"}}})
    b = MessageBuilder("d", maps, ("production_result",))
    assert b.maps.quantity(__import__("decimal").Decimal(25), "pcs") == ("2.5", "BOX")
    assert b.maps.operation("99") == "99" and b.maps.reason(None) is None
