"""What every view shares: the logged event it folds, the View contract, the order-state base."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from projections.fold import WO, WS, Snapshot, event_name
from projections.store import Db

ORDER = "order"
WORKSTATION = "workstation"


@dataclass(frozen=True, slots=True)
class Logged:
    """One ledger event at its position in the notification log."""

    position: int
    kind: str  # "order" or "workstation"
    name: str  # the event class name, e.g. "QuantityReported"
    event: Any
    key: str  # the aggregate id as text (the views' order key)


def kind_of(topic: str) -> str | None:
    """Which aggregate a topic belongs to, or None for events the views ignore (receipts)."""
    if topic.startswith(WO):
        return ORDER
    if topic.startswith(WS):
        return WORKSTATION
    return None


def logged(position: int, topic: str, event: Any) -> Logged | None:
    kind = kind_of(topic)
    if kind is None:
        return None
    return Logged(position, kind, event_name(topic), event, str(event.originator_id))


class View(ABC):
    """A read model: its tables, how it folds a batch of events, and how it is dropped."""

    name: str = ""
    tables: tuple[str, ...] = ()

    @abstractmethod
    def ddl(self) -> list[str]:
        """CREATE TABLE / CREATE INDEX statements (portable, idempotent)."""

    def create_tables(self, db: Db) -> None:
        """Create the view's tables when missing."""
        for statement in self.ddl():
            db.execute(statement).close()

    def drop_tables(self, db: Db) -> None:
        """Drop the view's tables (its data is rebuilt from the ledger)."""
        for table in reversed(self.tables):
            db.execute(f"DROP TABLE IF EXISTS {table}").close()

    @abstractmethod
    def apply_batch(self, db: Db, events: Sequence[Logged]) -> None:
        """Fold a batch of events into the view's rows, inside the caller's transaction."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget anything cached in memory (after a rollback, a rebuild or a lost race)."""


class OrderView(View):
    """A view that keeps a snapshot of every order's state in its own table.

    Snapshots of the orders a batch touches are loaded once (or taken from a memory cache
    that is valid while this process is the only writer), folded, and written back with one
    ``executemany`` per table.
    """

    snapshot_table: str = ""
    cache_size: int = 50_000

    def __init__(self) -> None:
        self._cache: dict[str, Snapshot] = {}

    def snapshot_ddl(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.snapshot_table} "
            "(order_key TEXT PRIMARY KEY, snap TEXT NOT NULL)"
        )

    def reset(self) -> None:
        self._cache = {}

    def _load(self, db: Db, keys: list[str]) -> dict[str, Snapshot]:
        cache = self._cache
        missing = [k for k in keys if k not in cache]
        if missing:
            if len(cache) + len(missing) > self.cache_size:
                cache.clear()
            for key, snap in db.query_in(
                f"SELECT order_key, snap FROM {self.snapshot_table} WHERE order_key IN {{in}}",
                missing,
            ):
                cache[key] = Snapshot.loads(snap)
        return {k: cache[k] for k in keys if k in cache}

    def apply_batch(self, db: Db, events: Sequence[Logged]) -> None:
        keys = list(dict.fromkeys(e.key for e in events if e.kind == ORDER))
        snaps = self._load(db, keys)
        touched: dict[str, Snapshot] = {}
        for item in events:
            if item.kind != ORDER:
                self.on_other(db, item)
                continue
            key = item.key
            snap = snaps.get(key)
            if snap is None:
                snap = Snapshot()
                snap.integration = item.event.integration
                snap.order_no = item.event.order_no
                snaps[key] = snap
                self._cache[key] = snap
            cleared = snap.apply(item.name, item.event)
            touched[key] = snap
            self.on_event(item, snap, cleared)
        self.write(db, touched)
        if touched:
            db.executemany(
                f"INSERT INTO {self.snapshot_table} (order_key, snap) VALUES (?, ?) "
                "ON CONFLICT (order_key) DO UPDATE SET snap = excluded.snap",
                [(k, s.dumps()) for k, s in touched.items()],
            )

    def on_event(self, item: Logged, snap: Snapshot, cleared: list[tuple[int, str]]) -> None:
        """Called after each order event is folded into ``snap`` (for per-event rows)."""

    def on_other(self, db: Db, item: Logged) -> None:
        """Called for each non-order event (workstations)."""

    @abstractmethod
    def write(self, db: Db, touched: dict[str, Snapshot]) -> None:
        """Write the view rows of the orders this batch changed (and any per-event rows)."""
