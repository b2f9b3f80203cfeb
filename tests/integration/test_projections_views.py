"""Every view's content for scripted floor scenarios, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from domain import Ledger
from domain.commands import (
    CancelInErp,
    CompleteOperation,
    CompleteOrder,
    MarkRowKeyed,
    PauseOperation,
    RaiseWorkstationWarning,
    ReceiveErpOrder,
    ReportQuantity,
    ResolveConflict,
    ResumeOperation,
    SetActiveOrder,
    StartOperation,
    SubmitReport,
)
from projections import ScriptFilter, ViewReader, ViewRunner
from tests.conftest import Backend
from tests.support.floor import (
    ERP,
    OPERATOR,
    SUPERVISOR,
    assert_status_matches_aggregate,
    at,
    order,
)

INTEG = "erp"


@pytest.fixture
def views(ledger: Ledger) -> Iterator[tuple[ViewRunner, ViewReader]]:
    runner = ViewRunner(ledger, batch_size=4)
    reader = ViewReader(runner.store)
    try:
        yield runner, reader
    finally:
        reader.close()
        runner.close()


def test_the_plan_lists_open_operations_per_work_centre_by_due_date_then_priority(
    ledger: Ledger, views: tuple[ViewRunner, ViewReader]
) -> None:
    runner, reader = views
    ledger.execute(ReceiveErpOrder(order("A", due=date(2030, 1, 5), priority=2)), ERP)
    ledger.execute(ReceiveErpOrder(order("B", due=date(2030, 1, 3), priority=5)), ERP)
    ledger.execute(ReceiveErpOrder(order("C", due=date(2030, 1, 5), priority=1)), ERP)
    ledger.execute(ReceiveErpOrder(order("D", due=None)), ERP)
    ledger.execute(ReceiveErpOrder(order("E", due=date(2030, 1, 1))), ERP)
    ledger.execute(StartOperation("A", "10", at=at(1)), OPERATOR)
    ledger.execute(CompleteOrder("E", at=at(2)), OPERATOR)
    ledger.execute(ReceiveErpOrder(order("F", ops=(("10", "MILL-1"),))), ERP)
    ledger.execute(CancelInErp("F", reason="no longer needed"), ERP)
    ledger.execute_at_workstation(SetActiveOrder("LASER-1", "A", part_no="P-A"), OPERATOR)
    runner.catch_up()

    laser = reader.plan("LASER-1")
    assert [(e.order_no, e.op_id) for e in laser.entries] == [
        ("B", "10"),
        ("C", "10"),
        ("A", "10"),
        ("D", "10"),
    ]
    a = next(e for e in laser.entries if e.order_no == "A")
    assert (a.order_state, a.op_state) == ("in_progress", "running")
    assert laser.active is not None and laser.active.order_no == "A"
    assert [e.order_no for e in reader.plan("PRESS-2").entries] == ["B", "C", "A", "D"]
    assert reader.plan("MILL-1").entries == []  # cancelled before any work
    assert "LASER-1" in reader.work_centres()


def test_status_and_report_script_follow_a_shift_of_floor_work(
    ledger: Ledger, views: tuple[ViewRunner, ViewReader]
) -> None:
    runner, reader = views
    ledger.execute(ReceiveErpOrder(order("100", quantity=50)), ERP)
    ledger.execute(StartOperation("100", "10", at=at(0)), OPERATOR)
    ledger.execute(PauseOperation("100", "10", "MAT-WAIT", at=at(20)), OPERATOR)
    ledger.execute(ResumeOperation("100", "10", at=at(30)), OPERATOR)
    ledger.execute(
        ReportQuantity("100", "10", good=40, scrap=2, scrap_reason="BURR", at=at(50)), OPERATOR
    )
    ledger.execute(
        ReportQuantity("100", "10", good=8, scrap=1, scrap_reason="DENT", at=at(55)), OPERATOR
    )
    ledger.execute(ReportQuantity("100", "10", rework=3, at=at(56)), OPERATOR)
    ledger.execute(CompleteOperation("100", "10", at=at(60)), OPERATOR)
    out = ledger.execute(
        SubmitReport(
            "100",
            "10",
            started_at=at(0),
            ended_at=at(60),
            good=48,
            scrap={"BURR": 2, "DENT": 1},
            rework=3,
            note='=HYPERLINK("x")',
            report_id="r1",
        ),
        OPERATOR,
    )
    runner.catch_up()

    s = reader.status("100", INTEG)
    assert s is not None
    assert s.state == "in_progress"
    assert s.scrap == {"BURR": Decimal(2), "DENT": Decimal(1)}
    assert s.scrap_total == 3 and s.rework == 3
    op10 = s.operations[0]
    assert (op10.op_id, op10.state, op10.good) == ("10", "completed", Decimal(48))
    assert op10.run_seconds == 50 * 60  # 60 minutes less the 10-minute pause
    assert op10.standard_minutes == Decimal(10) + Decimal("0.5") * 50
    assert s.operations[1].state == "not_started"
    assert s.reports == 1 and s.last_activity is not None
    assert_status_matches_aggregate(ledger, s, "100", INTEG)

    rows = reader.report_script()
    assert [r.row_id for r in rows] == ["op:10:8", "report:r1"]
    op_row, report_row = rows
    assert (op_row.work_centre, op_row.duration_s, op_row.good) == ("LASER-1", 3000.0, 48)
    assert op_row.scrap == {"BURR": 2, "DENT": 1} and op_row.operator == "anna"
    assert (report_row.duration_s, report_row.rework, report_row.keyed) == (3600.0, 3, False)

    ledger.execute(MarkRowKeyed("100", "report:r1"), SUPERVISOR)
    assert runner.wait_until(ledger.position(), timeout=5)
    keyed = reader.report_script(ScriptFilter(keyed=True))
    assert [(r.row_id, r.keyed_by) for r in keyed] == [("report:r1", "sam")]
    assert [r.row_id for r in reader.report_script(ScriptFilter(keyed=False))] == ["op:10:8"]
    assert out.position is not None


def test_a_mid_flight_change_shows_as_a_conflict_until_a_supervisor_settles_it(
    ledger: Ledger, views: tuple[ViewRunner, ViewReader]
) -> None:
    runner, reader = views
    erp = order("200", quantity=50, due=date(2030, 2, 1))
    ledger.execute(ReceiveErpOrder(erp), ERP)
    ledger.execute(StartOperation("200", "10", at=at(0)), OPERATOR)
    ledger.execute(ReceiveErpOrder(order("200", quantity=60, due=date(2030, 2, 1))), ERP)
    ledger.execute(ReceiveErpOrder(order("200", quantity=70, due=date(2030, 3, 1))), ERP)
    runner.catch_up()

    open_ = reader.conflicts(open_only=True)
    assert {(c.field, c.erp_value, c.floor_value) for c in open_} == {
        ("quantity", "70", "50"),
        ("due_date", "2030-03-01", "2030-02-01"),
    }
    s = reader.status("200", INTEG)
    assert s is not None and s.open_conflicts == 2 and s.quantity == 50

    ledger.execute(ResolveConflict("200", "quantity", "accept_erp", note="ok"), SUPERVISOR)
    ledger.execute(
        ReceiveErpOrder(order("200", quantity=70, due=date(2030, 2, 1))), ERP
    )  # withdrawn
    runner.catch_up()

    by_field = {c.field: c for c in reader.conflicts()}
    q = by_field["quantity"]
    assert (q.status, q.resolution, q.resolved_by, q.note) == (
        "resolved",
        "accept_erp",
        "sam",
        "ok",
    )
    assert q.resolved_at is not None and q.erp_value == "70" and q.floor_value == "50"
    d = by_field["due_date"]
    assert (d.status, d.resolution, d.resolved_by) == ("withdrawn", "withdrawn", "erp-sync")
    assert reader.conflicts(open_only=True) == []
    s = reader.status("200", INTEG)
    assert s is not None and s.open_conflicts == 0 and s.quantity == 70
    assert_status_matches_aggregate(ledger, s, "200", INTEG)
    plan = reader.plan("LASER-1").entries
    assert [(e.order_no, e.quantity) for e in plan] == [("200", Decimal(70))]


def test_a_cancellation_takes_the_order_off_the_plan_and_floor_work_on_it_warns(
    ledger: Ledger, views: tuple[ViewRunner, ViewReader]
) -> None:
    runner, reader = views
    ledger.execute(ReceiveErpOrder(order("300")), ERP)
    ledger.execute(ReceiveErpOrder(order("301")), ERP)
    ledger.execute(StartOperation("301", "10", at=at(0)), OPERATOR)
    ledger.execute(ReportQuantity("301", "10", good=60, at=at(5)), OPERATOR)  # over quantity
    ledger.execute(StartOperation("301", "99", at=at(6)), OPERATOR)  # not in the routing
    ledger.execute(CancelInErp("300", reason="customer cancelled"), ERP)
    ledger.execute(CancelInErp("301", reason="customer cancelled"), ERP)  # started: a conflict
    runner.catch_up()

    assert [e.order_no for e in reader.plan("LASER-1").entries] == ["301"]
    s300 = reader.status("300", INTEG)
    assert s300 is not None and s300.state == "cancelled"
    codes = {(w.order_no, w.code, w.relevant) for w in reader.warnings()}
    assert codes == {("301", "over_quantity", True), ("301", "unknown_operation", True)}
    [c] = reader.conflicts(open_only=True)
    assert (c.field, c.erp_value, c.floor_value) == ("status", "cancelled", "released")

    ledger.execute(ResolveConflict("301", "status", "accept_erp"), SUPERVISOR)
    ledger.execute(
        ReportQuantity("301", "10", rework=1, at=at(7)), OPERATOR
    )  # work on a cancelled order
    runner.catch_up()

    assert reader.plan("LASER-1").entries == []
    s301 = reader.status("301", INTEG)
    assert s301 is not None and s301.state == "cancelled"
    assert_status_matches_aggregate(ledger, s301, "301", INTEG)
    ws = {w.code: w for w in reader.warnings(order_no="301")}
    assert not ws["over_quantity"].relevant
    assert ws["over_quantity"].cleared_reason == "order cancelled"
    assert not ws["unknown_operation"].relevant
    assert ws["order_cancelled"].relevant  # it is about the cancellation itself
    assert [w.code for w in reader.warnings(relevant_only=True)] == ["order_cancelled"]
    assert s301.open_warnings == 1 and s301.warnings == 3


def test_a_warning_stops_being_relevant_when_the_erp_fixes_its_cause(
    ledger: Ledger, views: tuple[ViewRunner, ViewReader]
) -> None:
    runner, reader = views
    ledger.execute(ReceiveErpOrder(order("400", quantity=10)), ERP)
    ledger.execute(StartOperation("400", "30", at=at(0)), OPERATOR)  # unknown operation
    ledger.execute(
        ReportQuantity("400", "30", good=12, at=at(1)), OPERATOR
    )  # over quantity (warns twice)
    runner.catch_up()
    assert {w.code for w in reader.warnings(relevant_only=True)} == {
        "unknown_operation",
        "over_quantity",
    }
    bigger = order("400", quantity=20, ops=(("10", "LASER-1"), ("20", "PRESS-2"), ("30", "QA")))
    ledger.execute(ReceiveErpOrder(bigger), ERP)  # conflicts on quantity and routing
    ledger.execute(ResolveConflict("400", "routing", "accept_erp"), SUPERVISOR)
    runner.catch_up()
    relevant = {w.code for w in reader.warnings(relevant_only=True)}
    assert relevant == {"over_quantity"}
    ledger.execute(ResolveConflict("400", "quantity", "accept_erp"), SUPERVISOR)
    runner.catch_up()
    assert reader.warnings(relevant_only=True) == []
    cleared = {w.cleared_reason for w in reader.warnings()}
    assert cleared == {
        "operation now in the routing",
        "order quantity now covers the good quantity",
    }
    s = reader.status("400", INTEG)
    assert s is not None and s.open_warnings == 0
    assert [e.op_id for e in reader.plan("QA").entries] == ["30"]


def test_measuring_point_warnings_clear_when_the_point_answers_again(
    ledger: Ledger, views: tuple[ViewRunner, ViewReader]
) -> None:
    runner, reader = views
    ledger.execute_at_workstation(SetActiveOrder("PRESS-2", "500", part_no="P-500"), ERP)
    ledger.execute_at_workstation(
        RaiseWorkstationWarning("PRESS-2", "erp_unreachable", "no answer"), ERP
    )
    ledger.execute_at_workstation(
        RaiseWorkstationWarning("PRESS-2", "erp_unreachable", "still no answer"), ERP
    )
    runner.catch_up()
    ws = reader.warnings(workstation="PRESS-2")
    assert [(w.message, w.relevant) for w in ws] == [
        ("still no answer", True),
        ("no answer", False),
    ]
    ledger.execute_at_workstation(SetActiveOrder("PRESS-2", "501", part_no="P-501"), ERP)
    runner.catch_up()
    assert reader.warnings(relevant_only=True) == []
    [active] = reader.active_orders()
    assert (active.work_centre, active.order_no, active.part_no) == ("PRESS-2", "501", "P-501")


def test_a_view_can_be_paused_resumed_and_rebuilt_alone(
    ledger: Ledger, views: tuple[ViewRunner, ViewReader]
) -> None:
    runner, reader = views
    ledger.execute(ReceiveErpOrder(order("600")), ERP)
    runner.pause("plan")
    runner.catch_up()
    pos = ledger.position()
    positions = runner.positions()
    assert positions["plan"] == 0 and positions["status"] == pos
    runner.resume("plan")
    runner.catch_up()
    assert runner.positions()["plan"] == pos
    seen: list[tuple[int, int]] = []
    result = runner.rebuild("status", progress=lambda cur, tot: seen.append((cur, tot)))
    assert result.position == pos and result.events == pos
    assert seen[-1] == (pos, pos)
    s = reader.status("600", INTEG)
    assert s is not None and s.state == "released"


def test_wait_until_sees_a_write_made_while_a_runner_follows_the_ledger(
    backend: Backend, ledger: Ledger
) -> None:
    runner = ViewRunner(ledger, batch_size=50)
    reader = ViewReader(runner.store)
    runner.start()
    try:
        for i in range(5):
            outcome = ledger.execute(ReceiveErpOrder(order(f"70{i}")), ERP)
            assert outcome.position is not None
            assert runner.wait_until(outcome.position, timeout=5)
            assert reader.status(f"70{i}", INTEG) is not None
        assert not runner.wait_until(ledger.position() + 1000, timeout=0.3)
    finally:
        reader.close()
        runner.close()
