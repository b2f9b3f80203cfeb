"""The Ledger service layer on the in-memory store."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain import IdempotencyKeyReusedError, InvalidValueError, OrderNotFoundError, OrderState
from domain.commands import (
    ReceiveErpOrder,
    ReportQuantity,
    ResolveConflict,
    SetActiveOrder,
    StartOperation,
)
from tests.factories import ERP, OPERATOR, SUPERVISOR, a_memory_ledger, an_erp_order, minutes_ago


def test_a_command_on_an_unknown_order_is_refused_naming_it() -> None:
    ledger = a_memory_ledger()
    with pytest.raises(OrderNotFoundError, match="'WO-404'"):
        ledger.execute(StartOperation("WO-404", "10"), OPERATOR)


def test_a_command_with_a_used_idempotency_key_returns_the_first_outcome_and_records_nothing() -> (
    None
):
    ledger = a_memory_ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    first = ledger.execute(ReportQuantity("WO-1", "10", good=2), OPERATOR, key="tablet-7:0001")
    again = ledger.execute(ReportQuantity("WO-1", "10", good=2), OPERATOR, key="tablet-7:0001")
    assert again.replayed and not first.replayed
    assert again.version == first.version
    assert ledger.get_order("WO-1").progress("10").good == 2


def test_the_same_idempotency_key_with_a_different_command_is_refused() -> None:
    ledger = a_memory_ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    ledger.execute(ReportQuantity("WO-1", "10", good=2), OPERATOR, key="k")
    with pytest.raises(IdempotencyKeyReusedError):
        ledger.execute(ReportQuantity("WO-1", "10", good=3), OPERATOR, key="k")
    assert ledger.get_order("WO-1").progress("10").good == 2


def test_a_refused_command_records_nothing_and_leaves_the_position_unchanged() -> None:
    ledger = a_memory_ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    before = ledger.position()
    with pytest.raises(Exception, match="negative"):
        ledger.execute(ReportQuantity("WO-1", "10", good=-1), OPERATOR)
    assert ledger.position() == before


def test_a_write_returns_the_ledger_position_it_produced() -> None:
    ledger = a_memory_ledger()
    out = ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    assert out.position == ledger.position() == 1
    out = ledger.execute(StartOperation("WO-1", "99"), OPERATOR)
    assert out.events == ("OperationStarted", "WarningRaised")
    assert out.warnings == ("unknown_operation",)
    assert out.position == ledger.position() == 3


def test_the_history_lists_every_event_with_actor_source_and_summary() -> None:
    ledger = a_memory_ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    ledger.execute(StartOperation("WO-1", "10", at=minutes_ago(30)), OPERATOR)
    ledger.execute(ReceiveErpOrder(an_erp_order(quantity=Decimal(20))), ERP)
    ledger.execute(ResolveConflict("WO-1", "quantity", "accept_erp", note="ok"), SUPERVISOR)
    h = ledger.history("WO-1")
    assert [(e.version, e.actor_id, e.source, e.event) for e in h] == [
        (1, "sync:erp", "erp:erp", "Released"),
        (2, "olga", "api", "OperationStarted"),
        (3, "sync:erp", "erp:erp", "ConflictRaised"),
        (4, "sven", "api", "ConflictResolved"),
    ]
    assert "ERP says 20, floor has 10" in h[2].summary
    assert h[1].occurred_at is not None
    assert ledger.history("WO-1", after_version=2, limit=1)[0].version == 3


def test_bulk_release_records_one_event_per_new_order_and_falls_back_for_known_ones() -> None:
    ledger = a_memory_ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order("WO-2")), ERP)
    orders = [an_erp_order(f"WO-{i}") for i in range(1, 6)]
    written = ledger.release_orders(orders, ERP, batch_size=2)
    assert written == 4
    assert ledger.get_order("WO-5").state == OrderState.RELEASED


def test_the_verifier_passes_a_store_written_by_the_ledger() -> None:
    ledger = a_memory_ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    ledger.execute(ReportQuantity("WO-1", "10", good=1), OPERATOR, key="a")
    ledger.execute_at_workstation(SetActiveOrder("LATHE-1", "WO-1", part_no="P-100"), ERP)
    report = ledger.verify()
    assert report.ok, report.findings
    # release, report, its receipt, the workstation's registration and its active order
    assert report.events == 5


def test_an_order_named_without_its_integration_is_found_where_it_alone_lives() -> None:
    ledger = a_memory_ledger(locate=lambda _, order_no: ["plant-b"] if order_no == "WO-9" else [])
    ledger.execute(ReceiveErpOrder(an_erp_order("WO-9"), integration="plant-b"), ERP)
    out = ledger.execute(StartOperation("WO-9", "10"), OPERATOR)
    assert (out.integration, out.events) == ("plant-b", ("OperationStarted",))
    assert ledger.history("WO-9")[-1].event == "OperationStarted"
    assert ledger.verify_order("WO-9").ok
    with pytest.raises(OrderNotFoundError):
        ledger.execute(StartOperation("WO-404", "10"), OPERATOR)


def test_an_order_number_in_several_integrations_must_be_named_with_its_integration() -> None:
    ledger = a_memory_ledger(locate=lambda _, order_no: ["plant-a", "plant-b"])
    for integ in ("plant-a", "plant-b"):
        ledger.execute(ReceiveErpOrder(an_erp_order("WO-9"), integration=integ), ERP)
    with pytest.raises(InvalidValueError, match="plant-a, plant-b"):
        ledger.execute(StartOperation("WO-9", "10"), OPERATOR)
    assert ledger.execute(StartOperation("WO-9", "10", integration="plant-a"), OPERATOR).recorded


def test_verifying_the_store_reports_its_progress_up_to_the_head() -> None:
    ledger = a_memory_ledger()
    for i in range(5):
        ledger.execute(ReceiveErpOrder(an_erp_order(f"WO-{i}")), ERP)
    seen: list[tuple[int, int]] = []
    assert ledger.verify(batch=2, progress=lambda at, head: seen.append((at, head))).ok
    assert seen == [(2, 5), (4, 5), (5, 5)]
