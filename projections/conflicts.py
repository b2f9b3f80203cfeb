"""The conflicts view: ERP changes to started orders, open and settled, ERP and floor values side by
side, with who settled each, how and when."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain.state import ConflictChange, conflict_change
from projections.base import ORDER, Logged, View
from projections.store import Db
from projections.values import iso, plain

T_CONFLICTS = "fl_conflicts"

OPEN, RESOLVED, WITHDRAWN = "open", "resolved", "withdrawn"

_COLUMNS = (
    "conflict_id",
    "order_key",
    "integration",
    "order_no",
    "field",
    "erp_value",
    "floor_value",
    "status",
    "raised_at",
    "raised_by",
    "updated_at",
    "resolution",
    "note",
    "resolved_by",
    "resolved_role",
    "resolved_at",
    "position",
)


@dataclass(frozen=True)
class ConflictRow:
    """A conflict on one field of an order.

    ``status`` is open, resolved (by a supervisor: accept_erp, keep_floor or cancel) or
    withdrawn (the ERP went back to the floor's value). A new ERP value for a field whose
    conflict is still open updates that conflict (``updated_at``) rather than opening another.
    """

    conflict_id: str
    integration: str
    order_no: str
    field: str
    erp_value: Any
    floor_value: Any
    status: str
    raised_at: str
    raised_by: str
    updated_at: str
    resolution: str | None
    note: str | None
    resolved_by: str | None
    resolved_role: str | None
    resolved_at: str | None
    position: int


class ConflictsView(View):
    """Every conflict with its life cycle."""

    name = "conflicts"
    tables = (T_CONFLICTS,)

    def ddl(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {T_CONFLICTS} ("
            "conflict_id TEXT PRIMARY KEY, order_key TEXT NOT NULL, integration TEXT NOT NULL, "
            "order_no TEXT NOT NULL, field TEXT NOT NULL, erp_value TEXT, floor_value TEXT, "
            "status TEXT NOT NULL, raised_at TEXT, raised_by TEXT, updated_at TEXT, "
            "resolution TEXT, note TEXT, resolved_by TEXT, resolved_role TEXT, "
            "resolved_at TEXT, position BIGINT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {T_CONFLICTS}_open ON {T_CONFLICTS} (status, order_key)",
            f"CREATE INDEX IF NOT EXISTS {T_CONFLICTS}_order ON {T_CONFLICTS} "
            "(integration, order_no)",
        ]

    def apply_batch(self, db: Db, events: Sequence[Logged]) -> None:
        items: list[tuple[Logged, ConflictChange]] = []
        for item in events:
            if item.kind == ORDER:
                change = conflict_change(item.event)
                if change is not None:
                    items.append((item, change))
        if not items:
            return
        keys = list(dict.fromkeys(i.key for i, _ in items))
        rows: dict[str, list[Any]] = {}
        open_by_field: dict[tuple[str, str], str] = {}
        for r in db.query_in(
            f"SELECT {', '.join(_COLUMNS)} FROM {T_CONFLICTS} "
            "WHERE status = ? AND order_key IN {in}",
            keys,
            params=(OPEN,),
        ):
            rows[r[0]] = list(r)
            open_by_field[(r[1], r[4])] = r[0]
        changed: dict[str, list[Any]] = {}
        for i, c in items:
            e = i.event
            at = iso(e.timestamp)
            cid = open_by_field.get((i.key, c.field))
            if c.outcome == "raised":
                if cid is not None:
                    row = rows[cid]
                    row[5] = json.dumps(plain(c.erp_value))
                    row[10] = at
                else:
                    cid = f"{i.key}:{e.originator_version}"
                    row = [
                        cid,
                        i.key,
                        e.integration,
                        e.order_no,
                        c.field,
                        json.dumps(plain(c.erp_value)),
                        json.dumps(plain(c.floor_value)),
                        OPEN,
                        at,
                        e.actor_id,
                        at,
                        None,
                        None,
                        None,
                        None,
                        None,
                        i.position,
                    ]
                    rows[cid] = row
                    open_by_field[(i.key, c.field)] = cid
                changed[cid] = row
                continue
            if cid is None:
                continue  # nothing open on that field: the event has nothing to settle
            row = rows[cid]
            del open_by_field[(i.key, c.field)]
            row[10] = at
            row[13:16] = [e.actor_id, e.actor_role, at]
            if c.outcome == "withdrawn":
                row[5] = json.dumps(plain(c.erp_value))
                row[7] = WITHDRAWN
                row[11] = WITHDRAWN
            else:
                row[7] = RESOLVED
                row[11] = c.resolution
                row[12] = c.note
            changed[cid] = row
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
        db.executemany(
            f"INSERT INTO {T_CONFLICTS} ({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_COLUMNS))}) "
            f"ON CONFLICT (conflict_id) DO UPDATE SET {updates}",
            list(changed.values()),
        )


# ---------------------------------------------------------------------- queries


def conflicts(
    db: Db,
    *,
    open_only: bool = False,
    integration: str | None = None,
    order_no: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[ConflictRow]:
    """Conflicts, oldest first; only the open ones when ``open_only``."""
    where: list[str] = []
    params: list[Any] = []
    if open_only:
        where.append("status = ?")
        params.append(OPEN)
    if integration is not None:
        where.append("integration = ?")
        params.append(integration)
    if order_no is not None:
        where.append("order_no = ?")
        params.append(order_no)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    rows = db.query(
        "SELECT conflict_id, integration, order_no, field, erp_value, floor_value, status, "
        "raised_at, raised_by, updated_at, resolution, note, resolved_by, resolved_role, "
        f"resolved_at, position FROM {T_CONFLICTS} {clause} "
        "ORDER BY position LIMIT ? OFFSET ?",
        [*params, int(limit), int(offset)],
    )
    db.end_read()
    return [
        ConflictRow(
            conflict_id=r[0],
            integration=r[1],
            order_no=r[2],
            field=r[3],
            erp_value=json.loads(r[4]) if r[4] is not None else None,
            floor_value=json.loads(r[5]) if r[5] is not None else None,
            status=r[6],
            raised_at=r[7],
            raised_by=r[8],
            updated_at=r[9],
            resolution=r[10],
            note=r[11],
            resolved_by=r[12],
            resolved_role=r[13],
            resolved_at=r[14],
            position=int(r[15]),
        )
        for r in rows
    ]
