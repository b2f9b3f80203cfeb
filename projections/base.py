"""What every view shares: the logged event it folds, the View contract, the order-state base."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.utils import get_topic

from domain.state import Change, OrderFold
from domain.workorder import WorkOrder
from domain.workstation import Workstation
from projections.store import Db

ORDER = "order"
WORKSTATION = "workstation"


def event_topics(aggregate: type[Any]) -> dict[str, str]:
    """Stored topic → event class name, for every event class an aggregate declares."""
    base = aggregate.Event
    return {
        get_topic(c): c.__name__
        for c in vars(aggregate).values()
        if isinstance(c, type) and issubclass(c, base) and c is not base
    }


# Which aggregate each stored topic belongs to, derived from the event classes themselves.
_KINDS: dict[str, tuple[str, str]] = {
    **{t: (ORDER, n) for t, n in event_topics(WorkOrder).items()},
    **{t: (WORKSTATION, n) for t, n in event_topics(Workstation).items()},
}


@dataclass(frozen=True, slots=True)
class Logged:
    """One ledger event at its position in the notification log."""

    position: int
    kind: str  # "order" or "workstation"
    name: str  # the event class name, e.g. "QuantityReported"
    event: Any
    key: str  # the aggregate id as text (the views' order key)


def kind_of(topic: str) -> tuple[str, str] | None:
    """(aggregate kind, event class name) of a stored topic, or None for events the views
    ignore (receipts)."""
    return _KINDS.get(topic)


def logged(position: int, topic: str, event: Any) -> Logged | None:
    kind = kind_of(topic)
    if kind is None:
        return None
    return Logged(position, kind[0], kind[1], event, str(event.originator_id))


class StaleViewError(Exception):
    """A view holds order state written by an older floorledger: it must be rebuilt."""

    def __init__(self, view: str) -> None:
        super().__init__(
            f"the {view} view holds order state in an older format; "
            f"rebuild it with `floorledger views rebuild {view}`"
        )
        self.view = view


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


DEFAULT_CACHE_ORDERS = 10_000


class OrderCache:
    """Folded order states kept in memory between batches, at most ``limit`` of them, the
    least recently used out first; keyed by view and order, so one cache can serve all the
    views of a runner under one bound. ``limit`` 0 keeps nothing (every batch reads the
    states it needs from the views' own tables).

    It holds only states already written to their view's table: a batch folds into its own
    working set and hands it over once written (see :meth:`OrderView.apply_batch`).
    """

    def __init__(self, limit: int = DEFAULT_CACHE_ORDERS) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"order cache limit must be a whole number >= 0, got {limit!r}")
        self.limit = limit
        self.peak = 0  # the most states it ever held (benchmarks and tests look)
        self._states: OrderedDict[tuple[str, str], OrderFold] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def held(self, view: str) -> int:
        """How many states of ``view`` are held."""
        return sum(1 for v, _ in self._states if v == view)

    def take(self, view: str, keys: Sequence[str]) -> dict[str, OrderFold]:
        """The held states of ``keys`` (marked as just used)."""
        states = self._states
        found: dict[str, OrderFold] = {}
        for key in keys:
            state = states.get((view, key))
            if state is not None:
                states.move_to_end((view, key))
                found[key] = state
        return found

    def keep(self, view: str, folded: dict[str, OrderFold]) -> None:
        """Hold the states a batch just wrote, then drop the least recently used beyond the
        limit."""
        if self.limit == 0:
            return
        states = self._states
        for key, state in folded.items():
            states[(view, key)] = state
            states.move_to_end((view, key))
        while len(states) > self.limit:
            states.popitem(last=False)
        self.peak = max(self.peak, len(states))

    def forget(self, view: str) -> None:
        """Drop every state of ``view`` (after a rollback, a rebuild or a lost race)."""
        for k in [k for k in self._states if k[0] == view]:
            del self._states[k]


class OrderView(View):
    """A view that keeps every order's state (the domain's :class:`OrderFold`, by name, as
    JSON) in its own table, and folds each order event into it with the domain's one fold.

    The states of the orders a batch touches are taken from the memory cache (valid while
    this process is the only writer) or read from the view's table, folded, and written
    back with one ``executemany`` per table; then the cache holds them. The cache is
    bounded (:class:`OrderCache`): its own one per view, or the runner's, shared by all its
    views, so a rebuild over any number of orders holds a bounded number of them.
    """

    snapshot_table: str = ""

    def __init__(self, cache: OrderCache | None = None) -> None:
        self.cache = cache if cache is not None else OrderCache()

    def snapshot_ddl(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.snapshot_table} "
            "(order_key TEXT PRIMARY KEY, snap TEXT NOT NULL)"
        )

    def reset(self) -> None:
        self.cache.forget(self.name)

    def _load(self, db: Db, keys: list[str]) -> dict[str, OrderFold]:
        snaps = self.cache.take(self.name, keys)
        missing = [k for k in keys if k not in snaps]
        if missing:
            for key, snap in db.query_in(
                f"SELECT order_key, snap FROM {self.snapshot_table} WHERE order_key IN {{in}}",
                missing,
            ):
                data = json.loads(snap)
                if not isinstance(data, dict):
                    raise StaleViewError(self.name)
                snaps[key] = OrderFold.from_dict(data)
        return snaps

    def apply_batch(self, db: Db, events: Sequence[Logged]) -> None:
        keys = list(dict.fromkeys(e.key for e in events if e.kind == ORDER))
        snaps = self._load(db, keys)
        touched: dict[str, OrderFold] = {}
        for item in events:
            if item.kind != ORDER:
                self.on_other(db, item)
                continue
            key = item.key
            snap = snaps.get(key)
            if snap is None:
                snap = OrderFold(integration=item.event.integration, order_no=item.event.order_no)
                snaps[key] = snap
            change = snap.fold(item.event)
            touched[key] = snap
            self.on_event(item, snap, change)
        self.write(db, touched)
        if touched:
            db.executemany(
                f"INSERT INTO {self.snapshot_table} (order_key, snap) VALUES (?, ?) "
                "ON CONFLICT (order_key) DO UPDATE SET snap = excluded.snap",
                [(k, _dumps(s.to_dict())) for k, s in touched.items()],
            )
        # A rollback after this point resets the view, which forgets these states again.
        self.cache.keep(self.name, touched)

    def on_event(self, item: Logged, snap: OrderFold, change: Change) -> None:
        """Called after each order event is folded into ``snap``, with what else it did."""

    def on_other(self, db: Db, item: Logged) -> None:
        """Called for each non-order event (workstations)."""

    @abstractmethod
    def write(self, db: Db, touched: dict[str, OrderFold]) -> None:
        """Write the view rows of the orders this batch changed (and any per-event rows)."""


def _dumps(d: dict[str, Any]) -> str:
    return json.dumps(d, separators=(",", ":"))
