"""The WorkOrder rules, given / when / then, with no I/O."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from domain import (
    ConflictNotFoundError,
    ErpOperation,
    InvalidValueError,
    OperationState,
    OperationStateError,
    OrderState,
    OrderStateError,
    order_id_for,
)
from tests.factories import (
    ERP,
    OPERATOR,
    SUPERVISOR,
    a_released_order,
    an_erp_order,
    event_names,
    minutes_ago,
)


def test_the_order_id_is_derived_from_the_integration_and_the_erp_order_number() -> None:
    order = a_released_order("WO-7")
    assert order.id == order_id_for("erp", "WO-7")
    assert order_id_for("erp", "WO-7") != order_id_for("other-erp", "WO-7")


def test_every_event_records_actor_role_source_and_time() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR)
    events = order.collect_events()
    assert [(e.actor_id, e.actor_role, e.source) for e in events] == [
        ("sync:erp", "integration", "erp:erp"),
        ("olga", "operator", "api"),
    ]
    assert all(e.timestamp.tzinfo is not None for e in events)


@pytest.mark.parametrize("bad", [-1, "-0.5", float("nan"), float("inf"), "lots", None, True])
def test_a_negative_or_non_finite_quantity_is_refused_and_nothing_is_recorded(bad: object) -> None:
    order = a_released_order()
    order.collect_events()
    with pytest.raises(InvalidValueError) as refused:
        order.report_quantity("10", OPERATOR, good=bad)
    assert refused.value.field == "good"
    assert order.collect_events() == []


def test_the_error_names_the_field_and_the_value() -> None:
    order = a_released_order()
    with pytest.raises(InvalidValueError, match=r"scrap: -3 is negative"):
        order.report_quantity("10", OPERATOR, scrap=-3, scrap_reason="S1")


def test_scrap_without_a_reason_code_is_refused() -> None:
    order = a_released_order()
    with pytest.raises(InvalidValueError) as refused:
        order.report_quantity("10", OPERATOR, scrap=2)
    assert refused.value.field == "scrap_reason"


def test_a_quantity_in_a_convertible_unit_is_converted_to_the_order_unit() -> None:
    order = a_released_order(quantity=Decimal(5), unit="kg")
    order.report_quantity("10", OPERATOR, good=1500, unit="g")
    assert order.operations["10"].good == Decimal("1.5")


def test_a_quantity_in_an_order_specific_unit_uses_the_erp_factor() -> None:
    order = a_released_order(unit="pcs", unit_factors={"box": Decimal(12)})
    order.report_quantity("10", OPERATOR, good=2, unit="box")
    assert order.operations["10"].good == 24


def test_a_unit_that_is_not_convertible_to_the_order_unit_is_refused() -> None:
    order = a_released_order(unit="pcs")
    order.collect_events()
    with pytest.raises(InvalidValueError) as refused:
        order.report_quantity("10", OPERATOR, good=1, unit="kg")
    assert (refused.value.field, refused.value.value) == ("unit", "kg")
    assert order.collect_events() == []


def test_pausing_an_operation_that_is_not_running_is_refused() -> None:
    order = a_released_order()
    with pytest.raises(OperationStateError, match="not_started: cannot pause"):
        order.pause_operation("10", "M1", OPERATOR)
    order.start_operation("10", OPERATOR)
    order.pause_operation("10", "M1", OPERATOR)
    with pytest.raises(OperationStateError, match="paused: cannot pause"):
        order.pause_operation("10", "M1", OPERATOR)


def test_completing_an_operation_already_completed_is_refused() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR)
    order.complete_operation("10", OPERATOR)
    order.collect_events()
    with pytest.raises(OperationStateError, match="completed: cannot complete"):
        order.complete_operation("10", OPERATOR)
    assert order.collect_events() == []


def test_completing_an_order_twice_is_refused() -> None:
    order = a_released_order()
    order.complete_order(OPERATOR)
    with pytest.raises(OrderStateError):
        order.complete_order(OPERATOR)


def test_operation_states_follow_start_pause_resume_complete() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR, at=minutes_ago(60))
    assert order.progress("10").state == OperationState.RUNNING
    assert order.state == OrderState.IN_PROGRESS
    order.pause_operation("10", "TOOL", OPERATOR, at=minutes_ago(50))
    order.resume_operation("10", OPERATOR, at=minutes_ago(40))
    order.complete_operation("10", OPERATOR, at=minutes_ago(10))
    op = order.progress("10")
    assert op.state == OperationState.COMPLETED
    assert op.run_seconds == pytest.approx(40 * 60, abs=2)


def test_an_action_on_an_operation_not_in_the_routing_is_recorded_with_a_warning() -> None:
    order = a_released_order()
    order.collect_events()
    order.start_operation("99", OPERATOR)
    assert event_names(order) == ["OperationStarted", "WarningRaised"]
    assert order.progress("99").state == OperationState.RUNNING


def test_good_quantity_beyond_the_order_quantity_is_recorded_with_a_warning() -> None:
    order = a_released_order(quantity=Decimal(10))
    order.report_quantity("10", OPERATOR, good=8)
    order.collect_events()
    order.report_quantity("10", OPERATOR, good=3)
    events = order.collect_events()
    assert [type(e).__name__ for e in events] == ["QuantityReported", "WarningRaised"]
    assert events[1].code == "over_quantity"
    assert order.progress("10").good == 11


def test_a_floor_action_on_an_order_the_erp_cancelled_is_recorded_with_a_warning() -> None:
    order = a_released_order()
    order.cancel_in_erp(ERP)
    assert order.state == OrderState.CANCELLED
    order.collect_events()
    order.report_quantity("10", OPERATOR, good=1)
    events = order.collect_events()
    assert [type(e).__name__ for e in events] == ["QuantityReported", "WarningRaised"]
    assert events[1].code == "order_cancelled"
    assert order.state == OrderState.CANCELLED


def test_an_erp_change_to_an_order_without_floor_activity_applies_directly() -> None:
    order = a_released_order()
    order.collect_events()
    order.receive_erp_state(an_erp_order(quantity=Decimal(12), priority=5), ERP)
    events = order.collect_events()
    assert [type(e).__name__ for e in events] == ["ChangedInErp"]
    assert {c["field"] for c in events[0].changes} == {"quantity", "priority"}
    assert order.quantity == 12
    assert order.conflicts == {}


def test_the_same_erp_data_again_records_nothing() -> None:
    order = a_released_order()
    order.collect_events()
    order.receive_erp_state(an_erp_order(quantity=Decimal("10.000")), ERP)
    assert order.collect_events() == []


def test_an_erp_change_to_a_started_order_raises_a_conflict_and_keeps_the_floor_value() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR)
    order.collect_events()
    order.receive_erp_state(an_erp_order(quantity=Decimal(12)), ERP)
    events = order.collect_events()
    assert [type(e).__name__ for e in events] == ["ConflictRaised"]
    assert (events[0].field, events[0].erp_value, events[0].floor_value) == ("quantity", 12, 10)
    assert order.quantity == 10
    assert set(order.conflicts) == {"quantity"}


def test_a_newer_erp_value_replaces_the_pending_one_leaving_one_open_conflict() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR)
    order.receive_erp_state(an_erp_order(quantity=Decimal(12)), ERP)
    order.receive_erp_state(an_erp_order(quantity=Decimal(14)), ERP)
    assert list(order.conflicts) == ["quantity"]
    assert order.conflicts["quantity"].erp_value == 14
    assert order.conflicts["quantity"].floor_value == 10


def test_an_erp_value_changed_back_to_the_floor_value_withdraws_the_conflict() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR)
    order.receive_erp_state(an_erp_order(quantity=Decimal(12)), ERP)
    order.collect_events()
    order.receive_erp_state(an_erp_order(quantity=Decimal(10)), ERP)
    assert event_names(order) == ["ConflictWithdrawn"]
    assert order.conflicts == {}


def test_accepting_the_erp_change_applies_it() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR)
    order.receive_erp_state(an_erp_order(quantity=Decimal(12)), ERP)
    order.resolve_conflict("quantity", "accept_erp", "ok", SUPERVISOR)
    assert order.quantity == 12
    assert order.conflicts == {}


def test_keeping_the_floor_value_closes_the_conflict_and_the_same_value_does_not_reopen_it() -> (
    None
):
    order = a_released_order()
    order.start_operation("10", OPERATOR)
    order.receive_erp_state(an_erp_order(quantity=Decimal(12)), ERP)
    order.resolve_conflict("quantity", "keep_floor", "material short", SUPERVISOR)
    order.collect_events()
    order.receive_erp_state(an_erp_order(quantity=Decimal(12)), ERP)
    assert order.collect_events() == []
    assert order.quantity == 10


def test_resolving_with_cancel_cancels_the_order_and_keeps_the_recorded_work() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR)
    order.report_quantity("10", OPERATOR, good=4)
    order.receive_erp_state(an_erp_order(due_date=None), ERP)
    order.resolve_conflict("due_date", "cancel", "", SUPERVISOR)
    assert order.state == OrderState.CANCELLED
    assert order.progress("10").good == 4


def test_an_erp_cancellation_of_a_started_order_is_a_conflict_not_a_cancellation() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR)
    order.cancel_in_erp(ERP, "customer withdrew")
    assert order.state == OrderState.IN_PROGRESS
    assert order.conflicts["status"].erp_value == "cancelled"
    order.resolve_conflict("status", "accept_erp", "", SUPERVISOR)
    assert order.state == OrderState.CANCELLED


def test_a_routing_change_on_a_started_order_is_a_conflict_on_the_routing() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR)
    new_routing = (*an_erp_order().routing, ErpOperation("30", "Wash", "WASH-1"))
    order.receive_erp_state(an_erp_order(routing=new_routing), ERP)
    assert set(order.conflicts) == {"routing"}
    assert order.routing_ids() == ["10", "20"]
    order.resolve_conflict("routing", "accept_erp", "", SUPERVISOR)
    assert order.routing_ids() == ["10", "20", "30"]
    assert order.progress("10").state == OperationState.RUNNING


def test_resolving_a_field_without_an_open_conflict_is_refused() -> None:
    order = a_released_order()
    with pytest.raises(ConflictNotFoundError):
        order.resolve_conflict("quantity", "accept_erp", "", SUPERVISOR)


def test_an_unknown_resolution_is_refused_naming_it() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR)
    order.receive_erp_state(an_erp_order(quantity=Decimal(12)), ERP)
    with pytest.raises(InvalidValueError, match="resolution: 'maybe'"):
        order.resolve_conflict("quantity", "maybe", "", SUPERVISOR)


def test_a_report_with_its_end_before_its_start_is_refused() -> None:
    order = a_released_order()
    with pytest.raises(InvalidValueError) as refused:
        order.submit_report(
            "10", OPERATOR, started_at=minutes_ago(5), ended_at=minutes_ago(10), good=1
        )
    assert refused.value.field == "ended_at"


def test_a_submitted_report_becomes_a_report_script_row_that_can_be_keyed_once() -> None:
    order = a_released_order()
    rid = order.submit_report(
        "10",
        OPERATOR,
        started_at=minutes_ago(30),
        ended_at=minutes_ago(5),
        good=3,
        scrap={"S1": 1},
    )
    order.mark_row_keyed(f"report:{rid}", SUPERVISOR)
    order.collect_events()
    order.mark_row_keyed(f"report:{rid}", SUPERVISOR)
    assert order.collect_events() == []
    assert order.script_rows[f"report:{rid}"] is True


def test_a_time_in_the_future_or_without_time_zone_is_refused() -> None:
    order = a_released_order()
    with pytest.raises(InvalidValueError, match="in the future"):
        order.start_operation("10", OPERATOR, at=minutes_ago(-120))
    with pytest.raises(InvalidValueError, match="time zone"):
        order.start_operation("10", OPERATOR, at=minutes_ago(1).replace(tzinfo=None))


def test_an_erp_order_with_a_duplicate_operation_id_is_refused() -> None:
    routing = (ErpOperation("10"), ErpOperation("10"))
    with pytest.raises(InvalidValueError, match=r"routing\[1\].op_id"):
        a_released_order(routing=routing)


def test_a_cancelled_order_reappearing_as_released_in_the_erp_is_reinstated() -> None:
    order = a_released_order()
    order.cancel_in_erp(ERP)
    order.receive_erp_state(replace(an_erp_order()), ERP)
    assert order.state == OrderState.RELEASED


def test_a_floor_action_after_the_order_was_completed_is_recorded_with_a_warning() -> None:
    order = a_released_order()
    order.complete_order(OPERATOR)
    order.collect_events()
    order.report_quantity("20", OPERATOR, rework=1)
    assert [e.code for e in order.collect_events() if hasattr(e, "code")] == ["order_completed"]


def test_accepting_the_erps_release_of_a_cancelled_running_order_reinstates_it() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR)
    order.receive_erp_state(an_erp_order(quantity=Decimal(3)), ERP)
    order.resolve_conflict("quantity", "cancel", "", SUPERVISOR)
    assert order.state == OrderState.CANCELLED
    order.cancel_in_erp(ERP)  # the ERP follows: nothing to decide
    order.receive_erp_state(an_erp_order(quantity=Decimal(3)), ERP)  # and releases it again
    assert order.conflicts["status"].erp_value == "released"
    order.resolve_conflict("status", "accept_erp", "", SUPERVISOR)
    assert order.state == OrderState.IN_PROGRESS


def test_completing_the_order_raises_no_warning_about_the_order_being_completed() -> None:
    order = a_released_order()
    order.collect_events()
    order.complete_order(OPERATOR)
    assert event_names(order) == ["OrderCompleted"]
