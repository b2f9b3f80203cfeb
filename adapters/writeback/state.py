"""The pump's state, kept in the ledger's own database (same SQLite file, same PG schema).

Per destination: the ledger position it acknowledged up to, how many messages it took, the
last error. Per parked order: the refused message, why, and the supervisor's decision; the
order's later messages wait as held rows. The position, the parked and the held rows of one
delivery are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.redact import redact_text
from projections.store import Db, ViewStore

T_DEST = "fl_wb_destination"
T_PARKED = "fl_wb_parked"
T_HELD = "fl_wb_held"

DDL = (
    f"CREATE TABLE IF NOT EXISTS {T_DEST} (destination TEXT PRIMARY KEY, integration TEXT "
    "NOT NULL, position BIGINT NOT NULL, delivered BIGINT NOT NULL DEFAULT 0, updated_at TEXT, "
    "last_error TEXT, last_error_at TEXT, last_success_at TEXT)",
    f"CREATE TABLE IF NOT EXISTS {T_PARKED} (destination TEXT NOT NULL, order_key TEXT NOT NULL, "
    "integration TEXT NOT NULL, order_no TEXT NOT NULL, position BIGINT NOT NULL, "
    "msg_key TEXT NOT NULL, message TEXT NOT NULL, reason TEXT NOT NULL, parked_at TEXT NOT NULL, "
    "warned INTEGER NOT NULL DEFAULT 0, decision TEXT, decided_by TEXT, decided_at TEXT, "
    "PRIMARY KEY (destination, order_key))",
    f"CREATE TABLE IF NOT EXISTS {T_HELD} (destination TEXT NOT NULL, order_key TEXT NOT NULL, "
    "position BIGINT NOT NULL, sequence BIGINT NOT NULL, message TEXT NOT NULL, "
    "PRIMARY KEY (destination, order_key, sequence))",
)


class LostRaceError(Exception):
    """Another pump (or a replay) moved this destination's position first."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class DestinationState:
    """What the state tables say about one destination."""

    destination: str
    integration: str
    position: int
    delivered: int
    updated_at: str | None
    last_error: str | None
    last_error_at: str | None
    last_success_at: str | None


@dataclass(frozen=True)
class Parked:
    """An order whose writeback the destination refused: its stream waits for a supervisor."""

    destination: str
    order_key: str
    integration: str
    order_no: str
    position: int
    msg_key: str
    message: str
    reason: str
    parked_at: str
    warned: bool
    decision: str | None
    decided_by: str | None
    held: int = 0


class PumpState:
    """Reads and writes the pump's tables over one connection (reopened when lost)."""

    def __init__(self, store: ViewStore) -> None:
        self.store = store
        self._db: Db | None = None
        self._ready = False

    @property
    def db(self) -> Db:
        if self._db is None:
            self._db = self.store.connect()
        if not self._ready:
            with self._db.transaction():
                for stmt in DDL:
                    self._db.execute(stmt).close()
            self._ready = True
        return self._db

    def reset(self) -> None:
        """Drop the connection (after a connection error); the next use opens a new one."""
        if self._db is not None:
            self._db.close()
        self._db = None
        self._ready = False

    close = reset

    @contextmanager
    def transaction(self) -> Iterator[Db]:
        db = self.db
        with db.transaction():
            yield db

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        db = self.db
        rows = db.query(sql, params)
        db.end_read()
        return rows

    # ------------------------------------------------------------------ destinations

    def ensure(self, destination: str, integration: str, start: int = 0) -> None:
        """Register a destination at ``start`` (first use only)."""
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO {T_DEST} (destination, integration, position, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (destination) DO NOTHING",
                (destination, integration, start, now()),
            ).close()

    def get(self, destination: str) -> DestinationState | None:
        rows = self._read(
            f"SELECT destination, integration, position, delivered, updated_at, last_error, "
            f"last_error_at, last_success_at FROM {T_DEST} WHERE destination = ?",
            (destination,),
        )
        if not rows:
            return None
        r = rows[0]
        return DestinationState(str(r[0]), str(r[1]), int(r[2]), int(r[3]), *r[4:])

    def position(self, destination: str) -> int:
        s = self.get(destination)
        return s.position if s else 0

    def advance(self, db: Db, destination: str, at: int, to: int, delivered: int) -> None:
        """Move the position from ``at`` to ``to`` inside the caller's transaction."""
        stamp = now()
        cur = db.execute(
            f"UPDATE {T_DEST} SET position = ?, delivered = delivered + ?, updated_at = ?, "
            "last_error = NULL, last_success_at = ? WHERE destination = ? AND position = ?",
            (to, delivered, stamp, stamp, destination, at),
        )
        changed = cur.rowcount
        cur.close()
        if changed != 1:
            raise LostRaceError(destination)

    def add_delivered(self, db: Db, destination: str, count: int) -> None:
        """Count messages delivered outside the position's advance (a parked order resumed)."""
        db.execute(
            f"UPDATE {T_DEST} SET delivered = delivered + ?, last_success_at = ? "
            "WHERE destination = ?",
            (count, now(), destination),
        ).close()

    def set_position(self, destination: str, position: int) -> None:
        """Move the position (a replay re-sends everything after it)."""
        with self.transaction() as db:
            db.execute(
                f"UPDATE {T_DEST} SET position = ?, updated_at = ? WHERE destination = ?",
                (position, now(), destination),
            ).close()

    def record_error(self, destination: str, error: str) -> None:
        with self.transaction() as db:
            db.execute(
                f"UPDATE {T_DEST} SET last_error = ?, last_error_at = ? WHERE destination = ?",
                (redact_text(error)[:2000], now(), destination),
            ).close()

    # ------------------------------------------------------------------ parked and held

    def park(self, db: Db, destination: str, msg: Any, message: str, reason: str) -> None:
        db.execute(
            f"INSERT INTO {T_PARKED} (destination, order_key, integration, order_no, position, "
            "msg_key, message, reason, parked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (destination, order_key) DO UPDATE SET position = excluded.position, "
            "msg_key = excluded.msg_key, message = excluded.message, reason = excluded.reason, "
            "parked_at = excluded.parked_at, warned = 0, decision = NULL, decided_by = NULL, "
            "decided_at = NULL",
            (
                destination,
                msg.order_key,
                msg.integration,
                msg.order_no,
                msg.position,
                msg.key,
                message,
                redact_text(reason)[:2000],
                now(),
            ),
        ).close()

    def hold(self, db: Db, destination: str, rows: Sequence[tuple[str, int, int, str]]) -> None:
        """Keep messages of parked orders (order_key, position, sequence, message)."""
        db.executemany(
            f"INSERT INTO {T_HELD} (destination, order_key, position, sequence, message) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (destination, order_key, sequence) DO NOTHING",
            [(destination, *r) for r in rows],
        )

    def parked_keys(self, destination: str) -> set[str]:
        rows = self._read(f"SELECT order_key FROM {T_PARKED} WHERE destination = ?", (destination,))
        return {str(r[0]) for r in rows}

    def parked(self, destination: str | None = None) -> list[Parked]:
        sql = (
            f"SELECT p.destination, p.order_key, p.integration, p.order_no, p.position, "
            f"p.msg_key, p.message, p.reason, p.parked_at, p.warned, p.decision, p.decided_by, "
            f"(SELECT COUNT(*) FROM {T_HELD} h WHERE h.destination = p.destination "
            f"AND h.order_key = p.order_key) FROM {T_PARKED} p"
        )
        params: tuple[Any, ...] = ()
        if destination is not None:
            sql += " WHERE p.destination = ?"
            params = (destination,)
        rows = self._read(sql + " ORDER BY p.parked_at", params)
        return [
            Parked(
                str(r[0]),
                str(r[1]),
                str(r[2]),
                str(r[3]),
                int(r[4]),
                str(r[5]),
                str(r[6]),
                str(r[7]),
                str(r[8]),
                bool(r[9]),
                r[10],
                r[11],
                int(r[12]),
            )
            for r in rows
        ]

    def find_parked(self, destination: str, order_no: str) -> Parked | None:
        for p in self.parked(destination):
            if p.order_no == order_no:
                return p
        return None

    def decide(self, destination: str, order_key: str, decision: str, actor: str) -> bool:
        """Record a supervisor's retry or skip for the pump to carry out."""
        with self.transaction() as db:
            cur = db.execute(
                f"UPDATE {T_PARKED} SET decision = ?, decided_by = ?, decided_at = ? "
                "WHERE destination = ? AND order_key = ?",
                (decision, actor, now(), destination, order_key),
            )
            changed = cur.rowcount
            cur.close()
        return bool(changed)

    def mark_warned(self, destination: str, order_key: str, msg_key: str) -> None:
        with self.transaction() as db:
            db.execute(
                f"UPDATE {T_PARKED} SET warned = 1 WHERE destination = ? AND order_key = ? "
                "AND msg_key = ?",
                (destination, order_key, msg_key),
            ).close()

    def held(self, destination: str, order_key: str) -> list[tuple[int, int, str]]:
        """The held messages of an order, in order: (position, sequence, message)."""
        rows = self._read(
            f"SELECT position, sequence, message FROM {T_HELD} WHERE destination = ? "
            "AND order_key = ? ORDER BY sequence",
            (destination, order_key),
        )
        return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]

    def held_count(self, destination: str) -> int:
        rows = self._read(f"SELECT COUNT(*) FROM {T_HELD} WHERE destination = ?", (destination,))
        return int(rows[0][0])

    def unpark(self, db: Db, destination: str, order_key: str, through: int | None) -> None:
        """Forget the parked message and the held ones up to sequence ``through``."""
        db.execute(
            f"DELETE FROM {T_PARKED} WHERE destination = ? AND order_key = ?",
            (destination, order_key),
        ).close()
        if through is not None:
            db.execute(
                f"DELETE FROM {T_HELD} WHERE destination = ? AND order_key = ? AND sequence <= ?",
                (destination, order_key, through),
            ).close()

    def destinations(self) -> list[DestinationState]:
        rows = self._read(
            f"SELECT destination, integration, position, delivered, updated_at, last_error, "
            f"last_error_at, last_success_at FROM {T_DEST} ORDER BY destination"
        )
        return [DestinationState(str(r[0]), str(r[1]), int(r[2]), int(r[3]), *r[4:]) for r in rows]


__all__ = ["DDL", "T_DEST", "DestinationState", "LostRaceError", "Parked", "PumpState"]
