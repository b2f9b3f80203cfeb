"""The events-by-actor index: one row per order event (who, when, what, on which order), so an
auditor's search ("everything operator X did yesterday") is an indexed query over the whole
ledger, however old the events, not a scan of its newest part.

The summary is the event's own one-line ``summary()`` as it read when the event was indexed;
the view is rebuilt from the ledger like every other (``floorledger views rebuild events``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.base import ORDER, Logged, View
from projections.store import Db
from projections.values import iso, parse_iso

T_EVENTS = "fl_events_by_actor"

_COLUMNS = (
    "position",
    "actor_id",
    "recorded_at",
    "occurred_at",
    "actor_role",
    "source",
    "event",
    "summary",
    "integration",
    "order_no",
)


@dataclass(frozen=True)
class IndexedEvent:
    """One order event as the search shows it."""

    position: int
    recorded_at: datetime
    occurred_at: datetime | None
    actor_id: str
    actor_role: str
    source: str
    event: str
    summary: str
    integration: str
    order_no: str


class EventsIndexView(View):
    """Order events by actor and recording time."""

    name = "events"
    tables = (T_EVENTS,)

    def ddl(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {T_EVENTS} ("
            "position BIGINT PRIMARY KEY, actor_id TEXT NOT NULL, recorded_at TEXT NOT NULL, "
            "occurred_at TEXT, actor_role TEXT, source TEXT, event TEXT NOT NULL, "
            "summary TEXT, integration TEXT, order_no TEXT)",
            f"CREATE INDEX IF NOT EXISTS {T_EVENTS}_actor ON {T_EVENTS} "
            "(actor_id, recorded_at, position)",
            f"CREATE INDEX IF NOT EXISTS {T_EVENTS}_event ON {T_EVENTS} (event, position)",
        ]

    def apply_batch(self, db: Db, events: Sequence[Logged]) -> None:
        rows = []
        for item in events:
            if item.kind != ORDER:
                continue  # measuring points' events are the ERP's, not a person's
            e: Any = item.event
            rows.append(
                (
                    item.position,
                    str(getattr(e, "actor_id", "")),
                    iso(e.timestamp),
                    iso(getattr(e, "occurred_at", None)),
                    str(getattr(e, "actor_role", "")),
                    str(getattr(e, "source", "")),
                    item.name,
                    e.summary(),
                    e.integration,
                    e.order_no,
                )
            )
        if rows:
            db.executemany(
                f"INSERT INTO {T_EVENTS} ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_COLUMNS))}) ON CONFLICT (position) DO NOTHING",
                rows,
            )


def _found(r: Sequence[Any]) -> IndexedEvent:
    return IndexedEvent(
        position=int(r[0]),
        actor_id=r[1],
        recorded_at=datetime.fromisoformat(r[2]),
        occurred_at=parse_iso(r[3]),
        actor_role=r[4] or "",
        source=r[5] or "",
        event=r[6],
        summary=r[7] or "",
        integration=r[8] or "",
        order_no=r[9] or "",
    )


def events_by_actor(
    db: Db,
    actor: str,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> tuple[list[IndexedEvent], bool]:
    """The newest ``limit`` events ``actor`` recorded in [since, until), oldest first; and
    whether more matched than were returned."""
    where, params = ["actor_id = ?"], [actor]
    if since is not None:
        where.append("recorded_at >= ?")
        params.append(str(iso(since)))
    if until is not None:
        where.append("recorded_at < ?")
        params.append(str(iso(until)))
    rows = db.query(
        f"SELECT {', '.join(_COLUMNS)} FROM {T_EVENTS} WHERE {' AND '.join(where)} "
        "ORDER BY recorded_at DESC, position DESC LIMIT ?",
        [*params, int(limit) + 1],
    )
    db.end_read()
    more = len(rows) > limit
    return [_found(r) for r in reversed(rows[:limit])], more


def events_of_kind(db: Db, event: str, limit: int = 50) -> list[IndexedEvent]:
    """The newest ``limit`` events of one class (e.g. ``WritebackDecided``), newest first."""
    rows = db.query(
        f"SELECT {', '.join(_COLUMNS)} FROM {T_EVENTS} WHERE event = ? "
        "ORDER BY position DESC LIMIT ?",
        (event, int(limit)),
    )
    db.end_read()
    return [_found(r) for r in rows]
