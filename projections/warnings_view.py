"""The warnings view: integration warnings on orders and measuring points, and whether each is
still relevant.

Relevance (decided once; a warning that stopped being relevant does not come back):

- a warning on an order stops being relevant when the order is completed on the floor, or
  when it is cancelled (except ``order_cancelled`` warnings, which are about exactly that);
- ``order_cancelled``: when the ERP reinstates the order;
- ``unknown_operation`` (reference = the operation): when the order's routing holds it;
- ``over_quantity`` (reference = the operation): when the order quantity covers its good
  quantity again;
- any other code (``backdated`` among them) stays relevant until the order is completed or
  cancelled, or a supervisor acknowledges it;
- a warning on a measuring point stops being relevant when the next one with the same code
  replaces it, or when the point reports its active order again (the ERP answered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.state import Change, OrderFold
from domain.workstation import Workstation
from projections.base import Logged, OrderView
from projections.store import Db
from projections.values import iso

T_WARN_SNAP = "fl_warnings_snap"
T_WARNINGS = "fl_warnings"

_COLUMNS = (
    "warning_id",
    "subject",
    "order_key",
    "integration",
    "order_no",
    "workstation",
    "code",
    "message",
    "reference",
    "raised_at",
    "actor_id",
    "source",
    "relevant",
    "cleared_reason",
    "cleared_at",
    "position",
)
_RELEVANT, _REASON, _CLEARED_AT = 12, 13, 14


@dataclass(frozen=True)
class WarningRow:
    """An integration warning: about an order or a measuring point, and whether it still matters."""

    warning_id: str
    subject: str  # "order" or "workstation"
    integration: str | None
    order_no: str | None
    workstation: str | None
    code: str
    message: str
    reference: str
    raised_at: str
    actor_id: str
    source: str
    relevant: bool
    cleared_reason: str | None
    cleared_at: str | None
    position: int


class WarningsView(OrderView):
    """Warnings with their relevance, kept current as orders change."""

    name = "warnings"
    tables = (T_WARN_SNAP, T_WARNINGS)
    snapshot_table = T_WARN_SNAP

    def __init__(self) -> None:
        super().__init__()
        self._new: dict[str, list[Any]] = {}
        self._cleared: list[tuple[Any, ...]] = []

    def ddl(self) -> list[str]:
        return [
            self.snapshot_ddl(),
            f"CREATE TABLE IF NOT EXISTS {T_WARNINGS} ("
            "warning_id TEXT PRIMARY KEY, subject TEXT NOT NULL, order_key TEXT, "
            "integration TEXT, order_no TEXT, workstation TEXT, code TEXT NOT NULL, "
            "message TEXT, reference TEXT, raised_at TEXT, actor_id TEXT, source TEXT, "
            "relevant INTEGER NOT NULL, cleared_reason TEXT, cleared_at TEXT, "
            "position BIGINT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {T_WARNINGS}_pos ON {T_WARNINGS} (position)",
            f"CREATE INDEX IF NOT EXISTS {T_WARNINGS}_ws ON {T_WARNINGS} (workstation, relevant)",
            f"CREATE INDEX IF NOT EXISTS {T_WARNINGS}_order ON {T_WARNINGS} "
            "(integration, order_no)",
        ]

    def reset(self) -> None:
        super().reset()
        self._new = {}
        self._cleared = []

    def _row(self, wid: str, subject: str, item: Logged, **kw: Any) -> list[Any]:
        e = item.event
        return [
            wid,
            subject,
            kw.get("order_key"),
            kw.get("integration"),
            kw.get("order_no"),
            kw.get("workstation"),
            e.code,
            e.message,
            kw.get("reference", ""),
            iso(e.timestamp),
            e.actor_id,
            e.source,
            1,
            None,
            None,
            item.position,
        ]

    def _clear(self, wid: str, why: str, at: str | None) -> None:
        pending = self._new.get(wid)
        if pending is not None:
            pending[_RELEVANT : _CLEARED_AT + 1] = [0, why, at]
        else:
            self._cleared.append((why, at, wid))

    def on_event(self, item: Logged, snap: OrderFold, change: Change) -> None:
        if change.cleared:
            at = iso(item.event.timestamp)
            for w in change.cleared:
                self._clear(f"{item.key}:{w.version}", w.reason, at)
        raised = change.raised
        if raised is not None:
            wid = f"{item.key}:{raised.version}"
            self._new[wid] = self._row(
                wid,
                "order",
                item,
                order_key=item.key,
                integration=snap.integration,
                order_no=snap.order_no,
                reference=raised.reference,
            )

    def on_other(self, db: Db, item: Logged) -> None:
        e = item.event
        warning = isinstance(e, Workstation.WarningRaised)
        if not (warning or isinstance(e, Workstation.ActiveOrderChanged | Workstation.ErpAnswered)):
            return
        at = iso(e.timestamp)
        same_code = e.code if warning else None
        why = "replaced by a newer warning" if same_code else "the measuring point answered"
        # warnings of this point recorded in earlier batches
        for (wid,) in db.query(
            f"SELECT warning_id FROM {T_WARNINGS} WHERE workstation = ? AND relevant = 1"
            + (" AND code = ?" if same_code else ""),
            (e.name, same_code) if same_code else (e.name,),
        ):
            self._clear(wid, why, at)
        # and in this batch
        for wid, row in self._new.items():
            if row[5] == e.name and row[_RELEVANT] and (same_code is None or row[6] == same_code):
                self._clear(wid, why, at)
        if warning:
            wid = f"ws:{item.key}:{e.originator_version}"
            self._new[wid] = self._row(wid, "workstation", item, workstation=e.name)

    def write(self, db: Db, touched: dict[str, OrderFold]) -> None:
        if self._new:
            db.executemany(
                f"INSERT INTO {T_WARNINGS} ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_COLUMNS))}) "
                "ON CONFLICT (warning_id) DO NOTHING",
                list(self._new.values()),
            )
            self._new = {}
        if self._cleared:
            db.executemany(
                f"UPDATE {T_WARNINGS} SET relevant = 0, cleared_reason = ?, cleared_at = ? "
                "WHERE warning_id = ? AND relevant = 1",
                self._cleared,
            )
            self._cleared = []


# ---------------------------------------------------------------------- queries


def warnings(
    db: Db,
    *,
    relevant_only: bool = False,
    integration: str | None = None,
    order_no: str | None = None,
    workstation: str | None = None,
    code: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[WarningRow]:
    """Warnings, newest first, optionally only those still relevant."""
    where: list[str] = []
    params: list[Any] = []
    if relevant_only:
        where.append("relevant = 1")
    for column, value in (
        ("integration", integration),
        ("order_no", order_no),
        ("workstation", workstation),
        ("code", code),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    rows = db.query(
        f"SELECT {', '.join(_COLUMNS[:2])}, {', '.join(_COLUMNS[3:])} FROM {T_WARNINGS} "
        f"{clause} ORDER BY position DESC LIMIT ? OFFSET ?",
        [*params, int(limit), int(offset)],
    )
    db.end_read()
    return [
        WarningRow(
            warning_id=r[0],
            subject=r[1],
            integration=r[2],
            order_no=r[3],
            workstation=r[4],
            code=r[5],
            message=r[6] or "",
            reference=r[7] or "",
            raised_at=r[8],
            actor_id=r[9] or "",
            source=r[10] or "",
            relevant=bool(r[11]),
            cleared_reason=r[12],
            cleared_at=r[13],
            position=int(r[14]),
        )
        for r in rows
    ]
