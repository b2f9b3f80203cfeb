"""The status view: per order, its state, operations, totals, times, conflicts and warnings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.state import OperationProgress, OrderFold
from projections.base import OrderView
from projections.store import Db
from projections.values import dec, dstr, iso

T_STATUS = "fl_status"
T_STATUS_SNAP = "fl_status_snap"

_COLUMNS = (
    "order_key",
    "integration",
    "order_no",
    "part_no",
    "description",
    "state",
    "quantity",
    "unit",
    "good",
    "scrap",
    "rework",
    "run_seconds",
    "std_minutes",
    "last_activity",
    "open_conflicts",
    "open_warnings",
    "warnings",
    "reports",
    "version",
)


@dataclass(frozen=True)
class OperationStatus:
    """One operation of an order: its state, amounts and times against standard."""

    op_id: str
    name: str
    work_centre: str
    in_routing: bool
    state: str
    started_at: str | None
    completed_at: str | None
    running_since: str | None
    run_seconds: float
    standard_minutes: Decimal
    good: Decimal
    scrap: dict[str, Decimal]
    rework: Decimal
    results: int
    failed_results: int
    last_activity: str | None


@dataclass(frozen=True)
class OrderStatus:
    """An order as the floor and the ERP see it now."""

    integration: str
    order_no: str
    part_no: str
    description: str
    state: str
    quantity: Decimal
    unit: str
    due_date: str | None
    priority: int
    good: Decimal
    scrap_total: Decimal
    scrap: dict[str, Decimal]
    rework: Decimal
    run_seconds: float
    standard_minutes: Decimal
    last_activity: str | None
    open_conflicts: int
    open_warnings: int
    warnings: int
    reports: int
    version: int
    operations: list[OperationStatus] = field(default_factory=list)


def _c(value: Decimal) -> Decimal:
    """One spelling per quantity (5, 5.0 and 5.00 all show as 5)."""
    return Decimal(dstr(value))


def _status_row(key: str, s: OrderFold) -> tuple[Any, ...]:
    scrap = s.scrap_by_reason()
    return (
        key,
        s.integration,
        s.order_no,
        s.floor.get("part_no", ""),
        s.floor.get("description", ""),
        s.state.value,
        dstr(s.quantity),
        s.floor.get("unit", ""),
        dstr(s.good_total()),
        dstr(sum(scrap.values(), Decimal(0))),
        dstr(s.rework_total()),
        s.run_seconds(),
        dstr(s.standard_minutes()),
        iso(s.last_activity),
        len(s.conflicts),
        len(s.open_warnings),
        s.warnings_total,
        s.reports,
        s.version,
    )


class StatusView(OrderView):
    """Per order: state, per-operation state, good/scrap/rework, run time against standard."""

    name = "status"
    tables = (T_STATUS, T_STATUS_SNAP)
    snapshot_table = T_STATUS_SNAP

    def ddl(self) -> list[str]:
        return [
            self.snapshot_ddl(),
            f"CREATE TABLE IF NOT EXISTS {T_STATUS} ("
            "order_key TEXT PRIMARY KEY, integration TEXT NOT NULL, order_no TEXT NOT NULL, "
            "part_no TEXT, description TEXT, state TEXT NOT NULL, quantity TEXT, unit TEXT, "
            "good TEXT, scrap TEXT, rework TEXT, run_seconds DOUBLE PRECISION, "
            "std_minutes TEXT, last_activity TEXT, open_conflicts INTEGER, "
            "open_warnings INTEGER, warnings INTEGER, reports INTEGER, version INTEGER)",
            f"CREATE UNIQUE INDEX IF NOT EXISTS {T_STATUS}_order ON {T_STATUS} "
            "(integration, order_no)",
            f"CREATE INDEX IF NOT EXISTS {T_STATUS}_state ON {T_STATUS} (state)",
        ]

    def write(self, db: Db, touched: dict[str, OrderFold]) -> None:
        if not touched:
            return
        cols = ", ".join(_COLUMNS)
        marks = ", ".join("?" * len(_COLUMNS))
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
        db.executemany(
            f"INSERT INTO {T_STATUS} ({cols}) VALUES ({marks}) "
            f"ON CONFLICT (order_key) DO UPDATE SET {updates}",
            [_status_row(k, s) for k, s in touched.items()],
        )


# ---------------------------------------------------------------------- queries


def _operations(s: OrderFold) -> list[OperationStatus]:
    names = {str(d["op_id"]): str(d.get("name", "")) for d in s.routing}
    extra = sorted(k for k, op in s.operations.items() if k not in names and op.touched)
    out: list[OperationStatus] = []
    for op_id in [*s.routing_ids(), *extra]:
        o = s.operations.get(op_id) or OperationProgress(op_id, op_id in names)
        out.append(
            OperationStatus(
                op_id=op_id,
                name=names.get(op_id, ""),
                work_centre=s.work_centre_of(op_id),
                in_routing=op_id in names,
                state=o.state.value,
                started_at=iso(o.started_at),
                completed_at=iso(o.completed_at),
                running_since=iso(o.running_since),
                run_seconds=float(o.run_seconds),
                standard_minutes=s.standard_minutes(op_id),
                good=_c(o.good),
                scrap={r: _c(q) for r, q in o.scrap.items()},
                rework=_c(o.rework),
                results=o.results,
                failed_results=o.failed_results,
                last_activity=iso(o.last_activity),
            )
        )
    return out


def order_status(s: OrderFold) -> OrderStatus:
    """The status of an order from its folded state."""
    scrap = {r: _c(q) for r, q in s.scrap_by_reason().items()}
    return OrderStatus(
        integration=s.integration,
        order_no=s.order_no,
        part_no=str(s.floor.get("part_no", "")),
        description=str(s.floor.get("description", "")),
        state=s.state.value,
        quantity=_c(s.quantity),
        unit=str(s.floor.get("unit", "")),
        due_date=s.floor.get("due_date"),
        priority=int(s.floor.get("priority") or 0),
        good=_c(s.good_total()),
        scrap_total=sum(scrap.values(), Decimal(0)),
        scrap=scrap,
        rework=_c(s.rework_total()),
        run_seconds=s.run_seconds(),
        standard_minutes=s.standard_minutes(),
        last_activity=iso(s.last_activity),
        open_conflicts=len(s.conflicts),
        open_warnings=len(s.open_warnings),
        warnings=s.warnings_total,
        reports=s.reports,
        version=s.version,
        operations=_operations(s),
    )


def status(db: Db, order_no: str, integration: str) -> OrderStatus | None:
    """The status of one order, or None when the view does not hold it (yet)."""
    rows = db.query(
        f"SELECT s.snap FROM {T_STATUS} t JOIN {T_STATUS_SNAP} s ON s.order_key = t.order_key "
        "WHERE t.integration = ? AND t.order_no = ?",
        (integration, order_no),
    )
    db.end_read()
    if not rows:
        return None
    return order_status(OrderFold.from_dict(json.loads(rows[0][0])))


@dataclass(frozen=True)
class OrderSummary:
    """One line of the order list."""

    integration: str
    order_no: str
    part_no: str
    state: str
    quantity: Decimal
    unit: str
    good: Decimal
    scrap: Decimal
    rework: Decimal
    run_seconds: float
    standard_minutes: Decimal
    last_activity: str | None
    open_conflicts: int
    open_warnings: int


def status_list(
    db: Db,
    *,
    integration: str | None = None,
    state: str | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[OrderSummary]:
    """Orders with their totals, newest activity first, optionally by integration and state."""
    where, params = [], []
    if integration is not None:
        where.append("integration = ?")
        params.append(integration)
    if state is not None:
        where.append("state = ?")
        params.append(state)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    rows = db.query(
        "SELECT integration, order_no, part_no, state, quantity, unit, good, scrap, rework, "
        "run_seconds, std_minutes, last_activity, open_conflicts, open_warnings "
        f"FROM {T_STATUS} {clause} "
        "ORDER BY last_activity IS NULL, last_activity DESC, integration, order_no "
        "LIMIT ? OFFSET ?",
        [*params, int(limit), int(offset)],
    )
    db.end_read()
    return [
        OrderSummary(
            integration=r[0],
            order_no=r[1],
            part_no=r[2] or "",
            state=r[3],
            quantity=dec(r[4] or "0"),
            unit=r[5] or "",
            good=dec(r[6] or "0"),
            scrap=dec(r[7] or "0"),
            rework=dec(r[8] or "0"),
            run_seconds=float(r[9] or 0),
            standard_minutes=dec(r[10] or "0"),
            last_activity=r[11],
            open_conflicts=int(r[12] or 0),
            open_warnings=int(r[13] or 0),
        )
        for r in rows
    ]


__all__ = ["OperationStatus", "OrderStatus", "OrderSummary", "StatusView"]
