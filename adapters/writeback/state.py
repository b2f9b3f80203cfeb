"""The pump's state, kept in the ledger's own database (same SQLite file, same PG schema).

Per destination: the ledger position it acknowledged up to, how many messages it took, the
last error. Per parked order: the refused message, why, and the supervisor's decision. Per
held order (its message failed transiently, the others went on): the message, the last error,
since when, and when it is tried again. A parked or held order's later messages wait as held
rows. The position, the parked and held orders and the waiting rows of one delivery are
written in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from adapters.redact import redact_text
from projections.db import Database, Db

T_DEST = "fl_wb_destination"
T_PARKED = "fl_wb_parked"
T_HELD = "fl_wb_held"
T_HOLD = "fl_wb_hold"

METADATA = sa.MetaData()
DEST = sa.Table(
    T_DEST,
    METADATA,
    sa.Column("destination", sa.Text, primary_key=True),
    sa.Column("integration", sa.Text, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("delivered", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("updated_at", sa.Text),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_at", sa.Text),
    sa.Column("last_success_at", sa.Text),
)
PARKED = sa.Table(
    T_PARKED,
    METADATA,
    sa.Column("destination", sa.Text, primary_key=True),
    sa.Column("order_key", sa.Text, primary_key=True),
    sa.Column("integration", sa.Text, nullable=False),
    sa.Column("order_no", sa.Text, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("msg_key", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("parked_at", sa.Text, nullable=False),
    sa.Column("warned", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("decision", sa.Text),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_at", sa.Text),
)
HELD = sa.Table(
    T_HELD,
    METADATA,
    sa.Column("destination", sa.Text, primary_key=True),
    sa.Column("order_key", sa.Text, primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("message", sa.Text, nullable=False),
)
HOLD = sa.Table(
    T_HOLD,
    METADATA,
    sa.Column("destination", sa.Text, primary_key=True),
    sa.Column("order_key", sa.Text, primary_key=True),
    sa.Column("integration", sa.Text, nullable=False),
    sa.Column("order_no", sa.Text, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("msg_key", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("held_since", sa.Text, nullable=False),
    sa.Column("last_error_at", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("decision", sa.Text),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_at", sa.Text),
)
_DEST_COLUMNS = (
    DEST.c.destination,
    DEST.c.integration,
    DEST.c.position,
    DEST.c.delivered,
    DEST.c.updated_at,
    DEST.c.last_error,
    DEST.c.last_error_at,
    DEST.c.last_success_at,
)


R = TypeVar("R", "Parked", "Held")


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


@dataclass(frozen=True)
class Held:
    """An order set aside at a destination: its message kept failing transiently while the
    destination answered for other orders; it is tried again with backoff."""

    destination: str
    order_key: str
    integration: str
    order_no: str
    position: int
    msg_key: str
    message: str
    last_error: str
    held_since: str
    last_error_at: str
    attempts: int
    next_attempt_at: float
    decision: str | None
    decided_by: str | None
    waiting: int = 0


class PumpState:
    """Reads and writes the pump's tables over one connection (reopened when lost)."""

    def __init__(self, store: Database) -> None:
        self.store = store
        self._db: Db | None = None

    @property
    def db(self) -> Db:
        if self._db is None:
            self.store.ensure(METADATA)
            self._db = self.store.connect()
        return self._db

    def reset(self) -> None:
        """Drop the connection (after a connection error); the next use opens a new one."""
        if self._db is not None:
            self._db.close()
        self._db = None

    close = reset

    @contextmanager
    def transaction(self) -> Iterator[Db]:
        db = self.db
        with db.transaction():
            yield db

    def _read(self, stmt: sa.Executable) -> list[tuple[Any, ...]]:
        db = self.db
        try:
            return [tuple(r) for r in db.conn.execute(stmt).all()]
        finally:
            db.end_read()

    def _write(self, stmt: sa.Executable) -> int:
        with self.transaction() as db:
            return int(db.conn.execute(stmt).rowcount)

    # ------------------------------------------------------------------ destinations

    def ensure(self, destination: str, integration: str, start: int = 0) -> None:
        """Register a destination at ``start`` (first use only)."""
        with self.transaction() as db:
            db.conn.execute(
                db.insert(DEST)
                .values(
                    destination=destination,
                    integration=integration,
                    position=start,
                    updated_at=now(),
                )
                .on_conflict_do_nothing(index_elements=["destination"])
            )

    def get(self, destination: str) -> DestinationState | None:
        rows = self._read(sa.select(*_DEST_COLUMNS).where(DEST.c.destination == destination))
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
        changed = db.conn.execute(
            DEST.update()
            .where(DEST.c.destination == destination, DEST.c.position == at)
            .values(
                position=to,
                delivered=DEST.c.delivered + delivered,
                updated_at=stamp,
                last_error=None,
                last_success_at=stamp,
            )
        ).rowcount
        if changed != 1:
            raise LostRaceError(destination)

    def add_delivered(self, db: Db, destination: str, count: int) -> None:
        """Count messages delivered outside the position's advance (a parked order resumed)."""
        db.conn.execute(
            DEST.update()
            .where(DEST.c.destination == destination)
            .values(delivered=DEST.c.delivered + count, last_success_at=now())
        )

    def set_position(self, destination: str, position: int) -> None:
        """Move the position (a replay re-sends everything after it)."""
        self._write(
            DEST.update()
            .where(DEST.c.destination == destination)
            .values(position=position, updated_at=now())
        )

    def record_error(self, destination: str, error: str) -> None:
        self._write(
            DEST.update()
            .where(DEST.c.destination == destination)
            .values(last_error=redact_text(error)[:2000], last_error_at=now())
        )

    # ------------------------------------------------------------------ parked and held

    def park(self, db: Db, destination: str, msg: Any, message: str, reason: str) -> None:
        stmt = db.insert(PARKED).values(
            destination=destination,
            order_key=msg.order_key,
            integration=msg.integration,
            order_no=msg.order_no,
            position=msg.position,
            msg_key=msg.key,
            message=message,
            reason=redact_text(reason)[:2000],
            parked_at=now(),
        )
        db.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["destination", "order_key"],
                set_={
                    "position": stmt.excluded.position,
                    "msg_key": stmt.excluded.msg_key,
                    "message": stmt.excluded.message,
                    "reason": stmt.excluded.reason,
                    "parked_at": stmt.excluded.parked_at,
                    "warned": 0,
                    "decision": None,
                    "decided_by": None,
                    "decided_at": None,
                },
            )
        )

    def hold(self, db: Db, destination: str, rows: Sequence[tuple[str, int, int, str]]) -> None:
        """Keep messages of parked orders (order_key, position, sequence, message)."""
        if not rows:
            return
        db.conn.execute(
            db.insert(HELD).on_conflict_do_nothing(
                index_elements=["destination", "order_key", "sequence"]
            ),
            [
                {
                    "destination": destination,
                    "order_key": key,
                    "position": position,
                    "sequence": sequence,
                    "message": message,
                }
                for key, position, sequence, message in rows
            ],
        )

    def parked_keys(self, destination: str) -> set[str]:
        rows = self._read(sa.select(PARKED.c.order_key).where(PARKED.c.destination == destination))
        return {str(r[0]) for r in rows}

    def parked(self, destination: str | None = None) -> list[Parked]:
        """The parked orders (of a destination), longest parked first, with the number of
        messages waiting behind each."""
        return self._with_waiting(PARKED, Parked, "parked_at", destination)

    def find_parked(self, destination: str, order_no: str) -> Parked | None:
        for p in self.parked(destination):
            if p.order_no == order_no:
                return p
        return None

    def decide(self, destination: str, order_key: str, decision: str, actor: str) -> bool:
        """Record a supervisor's retry or skip for the pump to carry out."""
        changed = self._write(
            PARKED.update()
            .where(PARKED.c.destination == destination, PARKED.c.order_key == order_key)
            .values(decision=decision, decided_by=actor, decided_at=now())
        )
        return bool(changed)

    def decide_in(
        self,
        db: Db,
        destination: str,
        order_key: str,
        decision: str,
        actor: str,
        message_key: str = "",
    ) -> bool:
        """Record a supervisor's decision (read from the ledger) on the order's parked row at
        this destination, inside the caller's transaction; False when the order is not parked
        there (any more) or is parked on another message."""
        for table in (PARKED, HOLD):
            where = [table.c.destination == destination, table.c.order_key == order_key]
            if message_key:
                where.append(sa.func.substr(table.c.msg_key, 1, 200) == message_key)
            changed = db.conn.execute(
                table.update()
                .where(*where)
                .values(decision=decision, decided_by=actor, decided_at=now())
            ).rowcount
            if changed:
                return True
        return False

    def mark_warned(self, destination: str, order_key: str, msg_key: str) -> None:
        self._write(
            PARKED.update()
            .where(
                PARKED.c.destination == destination,
                PARKED.c.order_key == order_key,
                PARKED.c.msg_key == msg_key,
            )
            .values(warned=1)
        )

    def held(self, destination: str, order_key: str) -> list[tuple[int, int, str]]:
        """The held messages of an order, in order: (position, sequence, message)."""
        rows = self._read(
            sa.select(HELD.c.position, HELD.c.sequence, HELD.c.message)
            .where(HELD.c.destination == destination, HELD.c.order_key == order_key)
            .order_by(HELD.c.sequence)
        )
        return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]

    def held_count(self, destination: str) -> int:
        rows = self._read(
            sa.select(sa.func.count()).select_from(HELD).where(HELD.c.destination == destination)
        )
        return int(rows[0][0])

    def unpark(self, db: Db, destination: str, order_key: str, through: int | None) -> None:
        """Forget the parked message and the held ones up to sequence ``through``."""
        db.conn.execute(
            PARKED.delete().where(
                PARKED.c.destination == destination, PARKED.c.order_key == order_key
            )
        )
        if through is not None:
            db.conn.execute(
                HELD.delete().where(
                    HELD.c.destination == destination,
                    HELD.c.order_key == order_key,
                    HELD.c.sequence <= through,
                )
            )

    # ------------------------------------------------------------------ held orders

    def hold_order(
        self, db: Db, destination: str, msg: Any, message: str, error: str, next_at: float
    ) -> None:
        """Set an order aside at ``msg`` (a transient failure), inside the caller's transaction."""
        stamp = now()
        db.conn.execute(
            db.insert(HOLD)
            .values(
                destination=destination,
                order_key=msg.order_key,
                integration=msg.integration,
                order_no=msg.order_no,
                position=msg.position,
                msg_key=msg.key,
                message=message,
                last_error=redact_text(error)[:2000],
                held_since=stamp,
                last_error_at=stamp,
                attempts=1,
                next_attempt_at=next_at,
            )
            .on_conflict_do_nothing(index_elements=["destination", "order_key"])
        )

    def hold_failed(
        self,
        db: Db,
        destination: str,
        order_key: str,
        error: str,
        next_at: float,
        msg: Any | None = None,
        message: str | None = None,
    ) -> None:
        """Another failed attempt of a held order (now held at ``msg`` when given)."""
        values: dict[str, Any] = {
            "last_error": redact_text(error)[:2000],
            "last_error_at": now(),
            "attempts": HOLD.c.attempts + 1,
            "next_attempt_at": next_at,
            "decision": None,
            "decided_by": None,
            "decided_at": None,
        }
        if msg is not None:
            values.update(position=msg.position, msg_key=msg.key, message=message)
        db.conn.execute(
            HOLD.update()
            .where(HOLD.c.destination == destination, HOLD.c.order_key == order_key)
            .values(**values)
        )

    def release(self, db: Db, destination: str, order_key: str, through: int | None) -> None:
        """Clear an order's hold and its waiting messages up to sequence ``through``."""
        db.conn.execute(
            HOLD.delete().where(HOLD.c.destination == destination, HOLD.c.order_key == order_key)
        )
        self.drop_waiting(db, destination, order_key, through)

    def drop_waiting(self, db: Db, destination: str, order_key: str, through: int | None) -> None:
        """Forget an order's waiting messages up to sequence ``through`` (sent or moved)."""
        if through is not None:
            db.conn.execute(
                HELD.delete().where(
                    HELD.c.destination == destination,
                    HELD.c.order_key == order_key,
                    HELD.c.sequence <= through,
                )
            )

    def hold_keys(self, destination: str) -> set[str]:
        rows = self._read(sa.select(HOLD.c.order_key).where(HOLD.c.destination == destination))
        return {str(r[0]) for r in rows}

    def holds(self, destination: str | None = None) -> list[Held]:
        """The held orders (of a destination), longest held first, with the number of
        messages waiting behind each."""
        return self._with_waiting(HOLD, Held, "held_since", destination)

    def _with_waiting(
        self, table: sa.Table, row: type[R], since: str, destination: str | None
    ) -> list[R]:
        """Rows of ``table`` as ``row`` records (fields named as the columns; the last field
        counts the order's messages waiting in ``fl_wb_held``), oldest ``since`` first."""
        t, h = table.alias("t"), HELD.alias("h")
        waiting = (
            sa.select(sa.func.count())
            .select_from(h)
            .where(h.c.destination == t.c.destination, h.c.order_key == t.c.order_key)
            .scalar_subquery()
        )
        *names, count = (f.name for f in fields(row))
        stmt = sa.select(*(t.c[n] for n in names), waiting)
        if destination is not None:
            stmt = stmt.where(t.c.destination == destination)
        rows = self._read(stmt.order_by(t.c[since]))
        # integers stored for flags (``warned``) are read back as the record's bool
        flags = {f.name for f in fields(row) if f.type in ("bool", bool)}
        records: list[R] = []
        for r in rows:
            values: dict[str, Any] = dict(zip(names, r[:-1], strict=True))
            values.update({n: bool(values[n]) for n in flags})
            values[count] = int(r[-1])
            records.append(row(**values))
        return records

    def find_held(self, destination: str, order_no: str) -> Held | None:
        for h in self.holds(destination):
            if h.order_no == order_no:
                return h
        return None

    def destinations(self) -> list[DestinationState]:
        rows = self._read(sa.select(*_DEST_COLUMNS).order_by(DEST.c.destination))
        return [DestinationState(str(r[0]), str(r[1]), int(r[2]), int(r[3]), *r[4:]) for r in rows]


__all__ = [
    "METADATA",
    "T_DEST",
    "T_HELD",
    "T_HOLD",
    "T_PARKED",
    "DestinationState",
    "Held",
    "LostRaceError",
    "Parked",
    "PumpState",
]
