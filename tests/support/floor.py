"""Helpers for the tests: sample orders, floor actors, view/aggregate checks and store faults."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain import Actor, ErpOperation, ErpOrder, Ledger
from projections.store import Db

ERP = Actor("erp-sync", "integration", "erp:test")
OPERATOR = Actor("anna", "operator", "api")
SUPERVISOR = Actor("sam", "supervisor", "api")

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


def at(minutes: float) -> datetime:
    """A floor time ``minutes`` after the scenario's start (two days ago)."""
    return T0 + timedelta(minutes=minutes)


def order(
    order_no: str,
    *,
    quantity: int = 50,
    due: date | None = None,
    priority: int = 0,
    ops: tuple[tuple[str, str], ...] = (("10", "LASER-1"), ("20", "PRESS-2")),
) -> ErpOrder:
    """A released order with a routing of (op_id, work centre) operations."""
    return ErpOrder(
        order_no=order_no,
        part_no=f"P-{order_no}",
        quantity=Decimal(quantity),
        unit="pcs",
        description=f"part for {order_no}",
        due_date=due,
        priority=priority,
        work_centre="FAB",
        routing=tuple(
            ErpOperation(op_id, f"op {op_id}", wc, Decimal(10), Decimal("0.5")) for op_id, wc in ops
        ),
    )


def dump(db: Db, tables: tuple[str, ...]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the given tables, sorted, for comparing two builds of a view."""
    out = {}
    for t in tables:
        rows = db.query(f"SELECT * FROM {t}")
        out[t] = sorted(rows, key=repr)
    db.end_read()
    return out


def assert_status_matches_aggregate(ledger: Ledger, status: Any, order_no: str, integ: str) -> None:
    """The status view agrees with the WorkOrder aggregate the ledger loads."""
    agg = ledger.get_order(order_no, integ)
    assert status is not None, f"{order_no} missing from the status view"
    assert status.state == agg.state.value
    assert status.version == agg.version
    assert status.open_conflicts == len(agg.conflicts)
    assert status.warnings == agg.warnings
    assert status.reports == agg.reports
    assert status.good == agg.good_total
    assert status.quantity == agg.quantity
    ops = {o.op_id: o for o in status.operations}
    for op_id, p in agg.operations.items():
        idle = p.state.value == "not_started" and not (p.good or p.scrap or p.rework)
        if idle and not p.in_routing:
            continue  # dropped from the routing before any work: the view does not list it
        o = ops[op_id]
        assert o.state == p.state.value, op_id
        assert o.good == p.good, op_id
        assert o.rework == p.rework, op_id
        assert o.scrap == p.scrap, op_id
        assert abs(o.run_seconds - p.run_seconds) < 1e-6, op_id
        assert o.in_routing == p.in_routing, op_id


def lose_the_next_answer(ledger: Ledger) -> Callable[[], bool]:
    """The next write is committed, then inserted again as the library does after a lost
    answer; returns a check that the fault did happen."""
    real = ledger.recorder.insert_events
    fired: list[bool] = []

    def insert(events: Any, **kwargs: Any) -> Any:
        if not fired and events:
            fired.append(True)
            real(events, **kwargs)  # committed; the answer never reached us
        return real(events, **kwargs)

    ledger.recorder.insert_events = insert  # type: ignore[method-assign]
    return lambda: bool(fired)
