"""Plan import semantics on a real Ledger (SQLite and PostgreSQL): release, change, cancel, warn."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.config import Integration
from adapters.inbound.parsers import parse_b2mml, parse_csv
from adapters.inbound.sync import apply_batch, apply_mapping, open_orders_in_ledger
from adapters.mapping import MappingResult, map_records
from domain import Actor, Ledger, OrderState
from domain.commands import StartOperation

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inbound"
OPERATOR = Actor("op-7", "operator", "api")
HEADER = (
    "order_no,part_no,description,quantity,unit,due_date,priority,state,work_centre,"
    "op_id,op_name,op_work_centre,setup_time,run_time\n"
)


def integration(**over: Any) -> Integration:
    data: dict[str, Any] = {
        "name": "plant1",
        "mode": "B",
        "inbound": {
            "transport": "files",
            "inbox": "/unused/in",
            "archive": "/unused/archive",
            "error": "/unused/error",
            "format": "csv",
        },
        "fields": {"released_values": ["REL"], "cancelled_values": ["CNL"]},
        "maps": {
            "work_centres": {"PG-10": "saw-1", "PG-20": "drill-2"},
            "units": {"ST": {"unit": "pcs"}},
        },
    }
    data.update(over)
    return Integration.model_validate(data)


PLANT = integration()


def rows(*lines: str) -> bytes:
    return (HEADER + "".join(line + "\n" for line in lines)).encode()


def plan(data: bytes, integ: Integration = PLANT) -> MappingResult:
    return map_records(parse_csv(data), integ.field_map, integ.maps)


WO1 = (
    "WO-1,P-100,Bracket,50,ST,2025-03-14,2,REL,PG-10,0010,Saw,PG-10,15,0.5",
    "WO-1,P-100,Bracket,50,ST,2025-03-14,2,REL,PG-10,0020,Drill,PG-20,30,1.5",
)
WO2 = ("WO-2,P-200,Cover,120,ST,2025-03-17,1,REL,PG-10,0010,Saw,PG-10,10,0.2",)


def event_names(ledger: Ledger, order_no: str) -> list[str]:
    return [h.event for h in ledger.history(order_no, integration="plant1")]


def test_released_orders_are_imported_and_orders_in_planning_are_not(ledger: Ledger) -> None:
    data = rows(*WO1, *WO2, "WO-3,P-300,Draft,5,ST,,0,PLAN,PG-10,0010,Saw,PG-10,1,1")
    summary = apply_mapping(PLANT, ledger, plan(data))
    assert (summary.released, summary.not_released) == (["WO-1", "WO-2"], ["WO-3"])
    assert summary.ok and summary.warnings == []
    assert summary.line() == (
        "plant1: 2 released, 0 changed, 0 conflicts, 0 cancelled, 0 unchanged, "
        "1 not_released, 0 warnings, 0 errors"
    )
    order = ledger.get_order("WO-1", "plant1")
    assert order.state == OrderState.RELEASED and order.quantity == Decimal(50)
    assert order.unit == "pcs" and order.routing_ids() == ["0010", "0020"]
    assert order.routing[1].work_centre == "drill-2"
    assert ledger.find_order("WO-3", "plant1") is None
    history = ledger.history("WO-1", integration="plant1")
    assert (history[0].actor_id, history[0].actor_role, history[0].source) == (
        "sync:plant1",
        "integration",
        "erp:plant1",
    )


def test_importing_the_same_plan_again_records_nothing(ledger: Ledger) -> None:
    data = rows(*WO1, *WO2)
    apply_mapping(PLANT, ledger, plan(data))
    position = ledger.position()
    again = apply_mapping(PLANT, ledger, plan(data))
    assert again.unchanged == ["WO-1", "WO-2"] and again.counts()["released"] == 0
    assert ledger.position() == position


def test_a_change_before_the_start_applies_directly(ledger: Ledger) -> None:
    apply_mapping(PLANT, ledger, plan(rows(*WO1)))
    changed = [line.replace(",50,", ",60,") for line in WO1]
    summary = apply_mapping(PLANT, ledger, plan(rows(*changed)))
    assert summary.changed == ["WO-1"] and summary.conflicts == []
    assert ledger.get_order("WO-1", "plant1").quantity == 60


def test_a_change_after_an_operation_started_raises_a_conflict_and_keeps_the_floor_value(
    ledger: Ledger,
) -> None:
    apply_mapping(PLANT, ledger, plan(rows(*WO1)))
    ledger.execute(StartOperation("WO-1", "0010", integration="plant1"), OPERATOR)
    changed = [line.replace(",50,", ",60,") for line in WO1]
    summary = apply_mapping(PLANT, ledger, plan(rows(*changed)))
    assert summary.conflicts == ["WO-1"] and summary.changed == []
    order = ledger.get_order("WO-1", "plant1")
    assert order.quantity == 50 and "quantity" in order.conflicts
    assert apply_mapping(PLANT, ledger, plan(rows(*changed))).unchanged == ["WO-1"]


def test_a_cancellation_before_the_start_cancels_the_order(ledger: Ledger) -> None:
    apply_mapping(PLANT, ledger, plan(rows(*WO1, *WO2)))
    cancelled = [line.replace(",REL,", ",CNL,") for line in WO1]
    summary = apply_mapping(PLANT, ledger, plan(rows(*cancelled, *WO2)))
    assert summary.cancelled == ["WO-1"] and summary.unchanged == ["WO-2"]
    assert ledger.get_order("WO-1", "plant1").state == OrderState.CANCELLED
    again = apply_mapping(PLANT, ledger, plan(rows(*cancelled, *WO2)))
    assert again.cancelled == [] and again.unchanged == ["WO-2", "WO-1"]


def test_a_cancellation_after_the_start_raises_a_conflict_instead(ledger: Ledger) -> None:
    apply_mapping(PLANT, ledger, plan(rows(*WO1)))
    ledger.execute(StartOperation("WO-1", "0010", integration="plant1"), OPERATOR)
    summary = apply_batch(PLANT, ledger, [], cancelled=["WO-1"])
    assert summary.conflicts == ["WO-1"] and summary.cancelled == []
    order = ledger.get_order("WO-1", "plant1")
    assert order.state != OrderState.CANCELLED and "status" in order.conflicts


def test_a_cancelled_order_the_floor_never_had_is_ignored(ledger: Ledger) -> None:
    summary = apply_mapping(PLANT, ledger, plan(rows(WO2[0].replace(",REL,", ",CNL,"))))
    assert summary.counts()["cancelled"] == 0 and summary.ok
    assert ledger.find_order("WO-2", "plant1") is None


def test_an_order_missing_from_the_full_plan_is_cancelled(ledger: Ledger) -> None:
    full = integration(full_plan=True)
    apply_mapping(full, ledger, plan(rows(*WO1, *WO2), full), open_orders=lambda: [])
    assert sorted(open_orders_in_ledger(ledger, "plant1")) == ["WO-1", "WO-2"]
    summary = apply_mapping(
        full,
        ledger,
        plan(rows(*WO2), full),
        open_orders=lambda: open_orders_in_ledger(ledger, "plant1"),
    )
    assert summary.cancelled == ["WO-1"] and summary.unchanged == ["WO-2"]
    assert ledger.get_order("WO-1", "plant1").state == OrderState.CANCELLED
    assert (
        "missing from the ERP's full plan"
        in ledger.history("WO-1", integration="plant1")[-1].summary
    )
    assert open_orders_in_ledger(ledger, "plant1") == ["WO-2"]


def test_a_full_plan_that_cannot_be_read_whole_cancels_nothing(ledger: Ledger) -> None:
    full = integration(full_plan=True)
    apply_mapping(full, ledger, plan(rows(*WO1, *WO2), full), open_orders=lambda: [])
    still_open = ["WO-1", "WO-2"]
    # WO-1's rows are refused: it is still in the ERP's plan, just unreadable.
    bad = [line.replace(",50,", ",fifty,") for line in WO1]
    summary = apply_mapping(
        full, ledger, plan(rows(*bad, *WO2), full), open_orders=lambda: still_open
    )
    assert summary.cancelled == [] and not summary.ok
    # A row without an order number could be anything: no order is cancelled as missing.
    summary = apply_mapping(
        full,
        ledger,
        plan(rows(",P-1,x,1,ST,,0,REL,,,,,,", *WO2), full),
        open_orders=lambda: still_open,
    )
    assert summary.cancelled == [] and "full plan not applied" in summary.warnings[0]
    # An empty plan is an export failure, not the end of all work.
    summary = apply_mapping(full, ledger, plan(rows(), full), open_orders=lambda: still_open)
    assert summary.cancelled == [] and "no orders at all" in summary.warnings[0]
    assert ledger.get_order("WO-1", "plant1").state == OrderState.RELEASED


def test_unknown_references_raise_one_warning_per_value_however_often_the_plan_is_polled(
    ledger: Ledger,
) -> None:
    data = rows(
        "WO-9,P-9,Odd,5,KAR,,0,REL,PG-77,0010,Saw,PG-77,1,1",
        "WO-9,P-9,Odd,5,KAR,,0,REL,PG-77,0020,Drill,PG-20,1,1",
    )
    first = apply_mapping(PLANT, ledger, plan(data))
    assert first.released == ["WO-9"] and len(first.warnings) == 2
    assert any("unknown_work_centre" in w and "PG-77" in w for w in first.warnings)
    assert any("unknown_unit" in w and "KAR" in w for w in first.warnings)
    order = ledger.get_order("WO-9", "plant1")
    assert order.erp["work_centre"] == "PG-77" and order.unit == "KAR"
    for _ in range(2):
        again = apply_mapping(PLANT, ledger, plan(data))
        assert again.warnings == [] and again.unchanged == ["WO-9"]
    assert event_names(ledger, "WO-9").count("WarningRaised") == 2
    other = data.replace(b"PG-77", b"PG-78")
    assert len(apply_mapping(PLANT, ledger, plan(other)).warnings) == 1


def test_an_order_taken_back_to_planning_is_warned_about_not_cancelled(ledger: Ledger) -> None:
    apply_mapping(PLANT, ledger, plan(rows(*WO2)))
    back = rows(WO2[0].replace(",REL,", ",PLAN,"))
    summary = apply_mapping(PLANT, ledger, plan(back))
    assert summary.not_released == ["WO-2"] and len(summary.warnings) == 1
    assert "no longer released" in summary.warnings[0]
    assert ledger.get_order("WO-2", "plant1").state == OrderState.RELEASED
    assert apply_mapping(PLANT, ledger, plan(back)).warnings == []


def test_a_b2mml_schedule_releases_its_orders_with_routing_and_skips_forecasts(
    ledger: Ledger,
) -> None:
    b2mml = integration(
        inbound={
            "transport": "files",
            "inbox": "/unused/in",
            "archive": "/unused/archive",
            "error": "/unused/error",
            "format": "b2mml",
        },
        fields=None,
        maps={"work_centres": {"PG-10": "saw-1", "PG-20": "drill-2", "PG-30": "laser-3"}},
    )
    result = map_records(
        parse_b2mml(FIXTURES / "production_schedule.xml"), b2mml.field_map, b2mml.maps
    )
    summary = apply_mapping(b2mml, ledger, result)
    assert summary.released == ["WO-1001", "WO-1002"] and summary.not_released == ["WO-1003"]
    assert summary.ok and summary.warnings == []
    order = ledger.get_order("WO-1001", "plant1")
    assert [(op.op_id, op.work_centre) for op in order.routing] == [
        ("0010", "saw-1"),
        ("0020", "drill-2"),
    ]
    assert order.routing[1].setup_time == 30
