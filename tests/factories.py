"""Small factories so tests read as given / when / then."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain import Actor, ErpOperation, ErpOrder, Ledger, WorkOrder
from domain.ledger import Locator

ERP = Actor("sync:erp", "integration", "erp:erp")
OPERATOR = Actor("olga", "operator", "api")
SUPERVISOR = Actor("sven", "supervisor", "api")


def an_erp_order(order_no: str = "WO-1", **overrides: Any) -> ErpOrder:
    """A released order of 10 pcs with a two-operation routing."""
    order = ErpOrder(
        order_no=order_no,
        part_no="P-100",
        description="Shaft",
        quantity=Decimal(10),
        unit="pcs",
        due_date=datetime(2026, 12, 1, tzinfo=UTC).date(),
        priority=1,
        work_centre="WC-A",
        routing=(
            ErpOperation("10", "Turn", "LATHE-1", Decimal(10), Decimal(2)),
            ErpOperation("20", "Grind", "GRIND-1", Decimal(5), Decimal(1)),
        ),
    )
    return replace(order, **overrides)


def a_released_order(order_no: str = "WO-1", **overrides: Any) -> WorkOrder:
    """A WorkOrder aggregate as the ERP released it (not saved)."""
    return WorkOrder.release("erp", an_erp_order(order_no, **overrides), ERP)


def a_memory_ledger(locate: Locator | None = None) -> Ledger:
    """A Ledger on the in-memory store (no I/O)."""
    return Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, locate=locate)


def minutes_ago(m: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=m)


def event_names(order: WorkOrder) -> list[str]:
    """Names of the events the order has pending (and clears them)."""
    return [type(e).__name__ for e in order.collect_events()]
