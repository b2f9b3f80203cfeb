"""The report script (integrations in modes C and E only; the reader leaves out the others'
rows): one row per submitted report and per completed operation,
for keying into the ERP by hand; each row shows whether it has been keyed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.state import Change, OrderFold
from projections.base import Logged, OrderView
from projections.store import Db
from projections.values import dec, dstr, iso

T_SCRIPT_SNAP = "fl_script_snap"
T_SCRIPT = "fl_script_rows"

_COLUMNS = (
    "order_key",
    "row_id",
    "position",
    "kind",
    "integration",
    "order_no",
    "op_id",
    "work_centre",
    "started_at",
    "ended_at",
    "duration_s",
    "good",
    "scrap",
    "scrap_total",
    "rework",
    "operator",
    "note",
    "recorded_at",
    "keyed",
    "keyed_at",
    "keyed_by",
)


@dataclass(frozen=True)
class ScriptRow:
    """A line of the report script: what to key into the ERP for one report or operation.

    ``row_id`` is ``report:<report_id>`` or ``op:<op_id>:<version>``; pass it with the order
    to the ledger's ``mark_row_keyed``. For an operation row, start and end are when the
    operation first started and was completed, and duration is its run time without pauses.
    """

    row_id: str
    kind: str
    integration: str
    order_no: str
    op_id: str
    work_centre: str
    started_at: str | None
    ended_at: str | None
    duration_s: float
    good: Decimal
    scrap: dict[str, Decimal]
    rework: Decimal
    operator: str
    note: str
    recorded_at: str
    keyed: bool
    keyed_at: str | None
    keyed_by: str | None
    position: int


@dataclass
class ScriptFilter:
    """Which report-script rows to list."""

    integration: str | None = None
    order_no: str | None = None
    work_centre: str | None = None
    operator: str | None = None
    keyed: bool | None = None
    since: str | None = None  # recorded at or after (ISO-8601)
    until: str | None = None  # recorded before (ISO-8601)
    kinds: tuple[str, ...] = field(default=("report", "operation"))
    # integrations whose rows are not keyed by hand (their mode is not C or E)
    excluded_integrations: tuple[str, ...] = ()
    limit: int = 10_000
    offset: int = 0


class ScriptView(OrderView):
    """Report-script rows from ReportSubmitted and OperationCompleted; RowKeyed marks them."""

    name = "script"
    tables = (T_SCRIPT_SNAP, T_SCRIPT)
    snapshot_table = T_SCRIPT_SNAP

    def __init__(self) -> None:
        super().__init__()
        self._new: dict[tuple[str, str], list[Any]] = {}
        self._keyed: list[tuple[Any, ...]] = []

    def ddl(self) -> list[str]:
        return [
            self.snapshot_ddl(),
            f"CREATE TABLE IF NOT EXISTS {T_SCRIPT} ("
            "order_key TEXT NOT NULL, row_id TEXT NOT NULL, position BIGINT NOT NULL, "
            "kind TEXT NOT NULL, integration TEXT NOT NULL, order_no TEXT NOT NULL, "
            "op_id TEXT, work_centre TEXT, started_at TEXT, ended_at TEXT, "
            "duration_s DOUBLE PRECISION, good TEXT, scrap TEXT, scrap_total TEXT, rework TEXT, "
            "operator TEXT, note TEXT, recorded_at TEXT, keyed INTEGER NOT NULL, "
            "keyed_at TEXT, keyed_by TEXT, PRIMARY KEY (order_key, row_id))",
            f"CREATE INDEX IF NOT EXISTS {T_SCRIPT}_pos ON {T_SCRIPT} (position)",
            f"CREATE INDEX IF NOT EXISTS {T_SCRIPT}_order ON {T_SCRIPT} (integration, order_no)",
        ]

    def reset(self) -> None:
        super().reset()
        self._new = {}
        self._keyed = []

    def on_event(self, item: Logged, snap: OrderFold, change: Change) -> None:
        e = item.event
        row = change.script_row
        if row is not None:
            self._new[(item.key, row.row_id)] = [
                item.key,
                row.row_id,
                item.position,
                row.kind,
                snap.integration,
                snap.order_no,
                row.op_id,
                snap.work_centre_of(row.op_id),
                iso(row.started_at),
                iso(row.ended_at),
                row.duration_s,
                dstr(row.good),
                json.dumps({k: dstr(v) for k, v in row.scrap.items()}),
                dstr(sum(row.scrap.values(), Decimal(0))),
                dstr(row.rework),
                e.actor_id,
                row.note,
                iso(e.timestamp),
                0,
                None,
                None,
            ]
        elif change.keyed_row is not None:
            pending = self._new.get((item.key, change.keyed_row))
            if pending is not None:
                pending[18:21] = [1, iso(e.timestamp), e.actor_id]
            else:
                self._keyed.append((iso(e.timestamp), e.actor_id, item.key, change.keyed_row))

    def write(self, db: Db, touched: dict[str, OrderFold]) -> None:
        if self._new:
            db.executemany(
                f"INSERT INTO {T_SCRIPT} ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_COLUMNS))}) "
                "ON CONFLICT (order_key, row_id) DO NOTHING",
                list(self._new.values()),
            )
            self._new = {}
        if self._keyed:
            db.executemany(
                f"UPDATE {T_SCRIPT} SET keyed = 1, keyed_at = ?, keyed_by = ? "
                "WHERE order_key = ? AND row_id = ? AND keyed = 0",
                self._keyed,
            )
            self._keyed = []


# ---------------------------------------------------------------------- queries


def report_script(db: Db, filters: ScriptFilter | None = None) -> list[ScriptRow]:
    """Report-script rows in ledger order, filtered."""
    f = filters or ScriptFilter()
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("integration", f.integration),
        ("order_no", f.order_no),
        ("work_centre", f.work_centre),
        ("operator", f.operator),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if f.keyed is not None:
        where.append("keyed = ?")
        params.append(1 if f.keyed else 0)
    if f.since is not None:
        where.append("recorded_at >= ?")
        params.append(f.since)
    if f.until is not None:
        where.append("recorded_at < ?")
        params.append(f.until)
    if f.excluded_integrations:
        where.append("integration NOT IN (" + ",".join("?" * len(f.excluded_integrations)) + ")")
        params.extend(f.excluded_integrations)
    if tuple(f.kinds) != ("report", "operation"):
        where.append("kind IN (" + ",".join("?" * len(f.kinds)) + ")")
        params.extend(f.kinds)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    rows = db.query(
        "SELECT row_id, kind, integration, order_no, op_id, work_centre, started_at, ended_at, "
        "duration_s, good, scrap, rework, operator, note, recorded_at, keyed, keyed_at, "
        f"keyed_by, position FROM {T_SCRIPT} {clause} ORDER BY position LIMIT ? OFFSET ?",
        [*params, int(f.limit), int(f.offset)],
    )
    db.end_read()
    return [
        ScriptRow(
            row_id=r[0],
            kind=r[1],
            integration=r[2],
            order_no=r[3],
            op_id=r[4] or "",
            work_centre=r[5] or "",
            started_at=r[6],
            ended_at=r[7],
            duration_s=float(r[8] or 0),
            good=dec(r[9] or "0"),
            scrap={k: dec(v) for k, v in json.loads(r[10] or "{}").items()},
            rework=dec(r[11] or "0"),
            operator=r[12] or "",
            note=r[13] or "",
            recorded_at=r[14],
            keyed=bool(r[15]),
            keyed_at=r[16],
            keyed_by=r[17],
            position=int(r[18]),
        )
        for r in rows
    ]
