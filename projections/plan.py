"""The plan view: per work centre (measuring point), the open orders' operations there, and the
order currently running on each measuring point (mode A)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.state import OrderFold
from domain.workstation import Workstation
from projections.base import Logged, OrderView
from projections.store import Db
from projections.values import dec, dstr, iso

T_PLAN_SNAP = "fl_plan_snap"
T_PLAN_OPS = "fl_plan_ops"
T_PLAN_ACTIVE = "fl_plan_active"

_OP_COLUMNS = (
    "order_key",
    "op_id",
    "seq",
    "work_centre",
    "integration",
    "order_no",
    "part_no",
    "description",
    "quantity",
    "unit",
    "due_date",
    "priority",
    "order_state",
    "op_name",
    "op_state",
    "setup_time",
    "run_time_per_unit",
    "good",
)


@dataclass(frozen=True)
class PlanEntry:
    """An operation of an open order, planned at a work centre."""

    integration: str
    order_no: str
    part_no: str
    description: str
    quantity: Decimal
    unit: str
    due_date: str | None
    priority: int
    order_state: str
    op_id: str
    op_name: str
    op_state: str
    seq: int
    setup_time: Decimal
    run_time_per_unit: Decimal
    good: Decimal


@dataclass(frozen=True)
class ActiveOrder:
    """The order running on a measuring point (mode A), as last polled."""

    work_centre: str
    integration: str | None
    order_no: str | None
    part_no: str | None
    since: str | None
    actor_id: str | None


@dataclass(frozen=True)
class WorkCentrePlan:
    """A work centre's plan: the active order and the operations to do, in order."""

    work_centre: str
    active: ActiveOrder | None
    entries: list[PlanEntry] = field(default_factory=list)


def _op_rows(key: str, s: OrderFold) -> list[tuple[Any, ...]]:
    if not s.is_open:
        return []
    f = s.floor
    quantity = dstr(s.quantity)
    rows = []
    for seq, d in enumerate(s.routing):
        op_id = str(d["op_id"])
        o = s.operations.get(op_id)
        rows.append(
            (
                key,
                op_id,
                seq,
                str(d.get("work_centre") or f.get("work_centre") or ""),
                s.integration,
                s.order_no,
                f.get("part_no", ""),
                f.get("description", ""),
                quantity,
                f.get("unit", ""),
                f.get("due_date"),
                int(f.get("priority") or 0),
                s.state.value,
                str(d.get("name", "")),
                o.state.value if o else "not_started",
                str(d.get("setup_time", "0")),
                str(d.get("run_time_per_unit", "0")),
                dstr(o.good) if o else "0",
            )
        )
    return rows


class PlanView(OrderView):
    """Released orders neither completed nor cancelled, per work centre; active order per point."""

    name = "plan"
    tables = (T_PLAN_SNAP, T_PLAN_OPS, T_PLAN_ACTIVE)
    snapshot_table = T_PLAN_SNAP

    def __init__(self) -> None:
        super().__init__()
        self._active: dict[str, tuple[Any, ...]] = {}

    def ddl(self) -> list[str]:
        return [
            self.snapshot_ddl(),
            f"CREATE TABLE IF NOT EXISTS {T_PLAN_OPS} ("
            "order_key TEXT NOT NULL, op_id TEXT NOT NULL, seq INTEGER NOT NULL, "
            "work_centre TEXT NOT NULL, integration TEXT NOT NULL, order_no TEXT NOT NULL, "
            "part_no TEXT, description TEXT, quantity TEXT, unit TEXT, due_date TEXT, "
            "priority INTEGER, order_state TEXT, op_name TEXT, op_state TEXT, "
            "setup_time TEXT, run_time_per_unit TEXT, good TEXT, "
            "PRIMARY KEY (order_key, op_id))",
            f"CREATE INDEX IF NOT EXISTS {T_PLAN_OPS}_wc ON {T_PLAN_OPS} "
            "(work_centre, due_date, priority)",
            f"CREATE TABLE IF NOT EXISTS {T_PLAN_ACTIVE} ("
            "work_centre TEXT PRIMARY KEY, integration TEXT, order_no TEXT, part_no TEXT, "
            "since TEXT, actor_id TEXT)",
        ]

    def on_other(self, db: Db, item: Logged) -> None:
        e = item.event
        if isinstance(e, Workstation.ActiveOrderChanged):
            self._active[e.name] = (
                e.name,
                e.integration,
                e.order_no,
                e.part_no,
                iso(e.timestamp),
                e.actor_id,
            )
        elif isinstance(e, Workstation.Registered) and e.name not in self._active:
            self._active[e.name] = (e.name, None, None, None, iso(e.timestamp), e.actor_id)

    def write(self, db: Db, touched: dict[str, OrderFold]) -> None:
        if touched:
            keys = list(touched)
            db.execute_in(f"DELETE FROM {T_PLAN_OPS} WHERE order_key IN {{in}}", keys)
            rows = [r for k, s in touched.items() for r in _op_rows(k, s)]
            db.executemany(
                f"INSERT INTO {T_PLAN_OPS} ({', '.join(_OP_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_OP_COLUMNS))})",
                rows,
            )
        if self._active:
            db.executemany(
                f"INSERT INTO {T_PLAN_ACTIVE} "
                "(work_centre, integration, order_no, part_no, since, actor_id) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (work_centre) DO UPDATE SET "
                "integration = excluded.integration, order_no = excluded.order_no, "
                "part_no = excluded.part_no, since = excluded.since, actor_id = excluded.actor_id",
                list(self._active.values()),
            )
            self._active = {}

    def reset(self) -> None:
        super().reset()
        self._active = {}


# ---------------------------------------------------------------------- queries


def _active(row: tuple[Any, ...]) -> ActiveOrder:
    return ActiveOrder(
        work_centre=row[0],
        integration=row[1],
        order_no=row[2],
        part_no=row[3],
        since=row[4],
        actor_id=row[5],
    )


def plan(db: Db, work_centre: str, *, integration: str | None = None) -> WorkCentrePlan:
    """A work centre's open operations, by due date (none last), then priority (lowest number
    first), then order number and routing sequence; with the order active there (mode A)."""
    params: list[Any] = [work_centre]
    extra = ""
    if integration is not None:
        extra = " AND integration = ?"
        params.append(integration)
    rows = db.query(
        "SELECT integration, order_no, part_no, description, quantity, unit, due_date, "
        "priority, order_state, op_id, op_name, op_state, seq, setup_time, run_time_per_unit, "
        f"good FROM {T_PLAN_OPS} WHERE work_centre = ?{extra} "
        "ORDER BY due_date IS NULL, due_date, priority, order_no, integration, seq",
        params,
    )
    active = db.query(
        "SELECT work_centre, integration, order_no, part_no, since, actor_id "
        f"FROM {T_PLAN_ACTIVE} WHERE work_centre = ?",
        (work_centre,),
    )
    db.end_read()
    entries = [
        PlanEntry(
            integration=r[0],
            order_no=r[1],
            part_no=r[2] or "",
            description=r[3] or "",
            quantity=dec(r[4] or "0"),
            unit=r[5] or "",
            due_date=r[6],
            priority=int(r[7] or 0),
            order_state=r[8],
            op_id=r[9],
            op_name=r[10] or "",
            op_state=r[11],
            seq=int(r[12]),
            setup_time=dec(r[13] or "0"),
            run_time_per_unit=dec(r[14] or "0"),
            good=dec(r[15] or "0"),
        )
        for r in rows
    ]
    return WorkCentrePlan(work_centre, _active(active[0]) if active else None, entries)


def work_centres(db: Db) -> list[str]:
    """Every work centre with open operations or a known measuring point."""
    rows = db.query(
        f"SELECT DISTINCT work_centre FROM {T_PLAN_OPS} UNION "
        f"SELECT work_centre FROM {T_PLAN_ACTIVE} ORDER BY 1"
    )
    db.end_read()
    return [r[0] for r in rows]


def active_orders(db: Db) -> list[ActiveOrder]:
    """The order running on each measuring point (mode A)."""
    rows = db.query(
        "SELECT work_centre, integration, order_no, part_no, since, actor_id "
        f"FROM {T_PLAN_ACTIVE} ORDER BY work_centre"
    )
    db.end_read()
    return [_active(r) for r in rows]
