"""The bulk release (a plan of new orders saved in batches) records exactly what releasing
the orders one by one records, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eventsourcing.persistence import IntegrityError

from domain import Actor, ErpOperation, ErpOrder
from domain.commands import ReceiveErpOrder, ReportQuantity
from domain.errors import InvalidValueError
from domain.ledger import Ledger
from domain.workorder import WorkOrder

ERP = Actor("erp-sync", "integration", "erp:erp")
OPERATOR = Actor("op-1", "operator", "api")


def an_order(i: int, quantity: str = "100") -> ErpOrder:
    return ErpOrder(
        order_no=f" B-{i:04d} ",
        part_no=f"P-{i % 7}",
        quantity=Decimal(quantity),
        unit="pcs",
        description="Gehäuse\tfräsen" if i % 2 else "housing",
        priority=i % 5,
        work_centre="WC",
        routing=tuple(
            ErpOperation(f"{10 * (k + 1)}", f"op {k}", f"WC-{k}", Decimal("5.0"), "0.50")
            for k in range(3)
        ),
        unit_factors={"kg": Decimal("2.50")},
    )


def test_a_bulk_release_records_what_releasing_one_by_one_records(ledger: Ledger) -> None:
    orders = [an_order(i) for i in range(7)]
    written = ledger.release_orders(orders, ERP, integration="bulk", batch_size=3)
    for o in orders:
        ledger.execute(ReceiveErpOrder(o, integration="one"), ERP)

    assert written == 7
    for o in orders:
        no = o.order_no.strip()
        bulk = ledger.history(no, integration="bulk")
        one = ledger.history(no, integration="one")
        assert [(e.event, e.details, e.summary, e.actor_id) for e in bulk] == [
            (e.event, e.details, e.summary, e.actor_id) for e in one
        ]
        got, want = ledger.get_order(no, "bulk"), ledger.get_order(no, "one")
        assert (got.erp, got.floor, got.unit_factors, got.state, got.version) == (
            want.erp, want.floor, want.unit_factors, want.state, want.version
        )  # fmt: skip
    report = ledger.verify()
    assert report.ok and report.events == 14  # every hash chain recomputes


def test_bulk_released_orders_are_in_the_notification_log_in_plan_order(ledger: Ledger) -> None:
    ledger.release_orders([an_order(i) for i in range(5)], ERP, batch_size=2)

    notes = ledger.recorder.select_notifications(1, 100)
    events = [ledger.mapper.to_domain_event(n) for n in notes]
    assert [e.order_no for e in events] == [f"B-{i:04d}" for i in range(5)]
    assert [n.id for n in notes] == list(range(notes[0].id, notes[0].id + 5))
    assert all(isinstance(e, WorkOrder.Released) for e in events)
    assert ledger.position() == notes[-1].id
    # A bulk-released order takes floor commands like any other.
    ledger.execute(ReportQuantity("B-0003", "10", good=4), OPERATOR)
    assert ledger.get_order("B-0003").version == 2


def test_a_batch_holding_a_known_order_records_nothing_and_the_bulk_path_goes_one_by_one(
    ledger: Ledger,
) -> None:
    ledger.release_orders([an_order(1), an_order(2)], ERP)
    before = ledger.position()

    with pytest.raises(IntegrityError):
        ledger.release_new([an_order(3), an_order(2)], ERP)
    assert ledger.position() == before
    assert ledger.find_order("B-0003") is None

    written = ledger.release_orders([an_order(3), an_order(2, quantity="120")], ERP)
    assert written == 2  # B-0003 released, B-0002 changed in the ERP
    assert ledger.get_order("B-0002").erp["quantity"] == Decimal(120)
    assert [e.event for e in ledger.history("B-0002")] == ["Released", "ChangedInErp"]
    assert ledger.verify().ok


def test_a_bulk_release_with_an_invalid_order_names_it_and_records_nothing(
    ledger: Ledger,
) -> None:
    bad = ErpOrder("B-9", "P", Decimal(-1), "pcs")
    with pytest.raises(InvalidValueError, match="quantity"):
        ledger.release_orders([an_order(1), bad], ERP)
    assert ledger.position() == 0


def test_batches_are_recorded_in_plan_order_up_to_a_refusal(ledger: Ledger) -> None:
    """A batch holding a known order goes order by order before the next batch is saved, and
    an invalid order stops the release after the batches before it were recorded."""
    ledger.release_orders([an_order(3)], ERP)
    plan = [an_order(i) for i in range(1, 7)]
    plan[2] = an_order(3, quantity="150")  # known: its batch (B-0003, B-0004) goes one by one
    plan.append(ErpOrder("B-9", "P", Decimal(-1), "pcs"))  # in the fourth batch
    plan.append(an_order(8))

    with pytest.raises(InvalidValueError, match="quantity"):
        ledger.release_orders(plan, ERP, batch_size=2)

    events = [
        ledger.mapper.to_domain_event(n) for n in ledger.recorder.select_notifications(1, 100)
    ]
    assert [(e.order_no, type(e).__name__) for e in events] == [
        ("B-0003", "Released"),
        ("B-0001", "Released"),
        ("B-0002", "Released"),
        ("B-0003", "ChangedInErp"),
        ("B-0004", "Released"),
        ("B-0005", "Released"),
        ("B-0006", "Released"),
    ]
    assert ledger.find_order("B-0008") is None
    assert ledger.verify().ok
