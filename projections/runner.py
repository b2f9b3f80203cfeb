"""The projection runner: folds the ledger's notification log into the views, in batches.

Each batch of up to N notifications is read once, decoded once, and folded into every view;
each view writes its rows and its tracking position in ONE transaction, so a crash at any
point neither loses nor double-counts an event. The tracking update is conditional on the
position the runner last saw, so two runners on the same view never both apply a batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from projections.base import DEFAULT_CACHE_ORDERS, Logged, OrderCache, OrderView, View, kind_of
from projections.db import Database, Db, Listener, connection_errors

log = logging.getLogger("floorledger.projections")

T_TRACKING = "fl_view_tracking"
DEFAULT_BATCH = 1000

Progress = Callable[[int, int], None]


class LostRaceError(Exception):
    """Another runner advanced this view first; the batch was rolled back."""


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild did: events replayed, seconds taken, the position reached."""

    view: str
    events: int
    seconds: float
    position: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float(self.events)


# How often a reader waiting for a runner in another process looks at the positions.
WATCH_SECONDS = 0.01


def default_views() -> list[View]:
    """One of each view: status, plan, report script, conflicts, warnings, events by actor
    (status first: a batch reaches it before the others, and an order's status read waits for
    it alone)."""
    from projections.conflicts import ConflictsView
    from projections.events_index import EventsIndexView
    from projections.plan import PlanView
    from projections.script import ScriptView
    from projections.status import StatusView
    from projections.warnings_view import WarningsView

    return [
        StatusView(),
        PlanView(),
        ScriptView(),
        ConflictsView(),
        WarningsView(),
        EventsIndexView(),
    ]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class ViewRunner:
    """Keeps views up to date with the ledger: catch up, follow, wait, rebuild."""

    def __init__(
        self,
        ledger: Any,
        views: Iterable[View] | None = None,
        *,
        store: Database | None = None,
        batch_size: int = DEFAULT_BATCH,
        poll_interval: float = 0.1,
        watchdog_interval: float = 1.0,
        listen: bool = True,
        cache_orders: int = DEFAULT_CACHE_ORDERS,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        # One bound for the order states all the views keep in memory between batches
        # (FLOORLEDGER_VIEW_CACHE_ORDERS): a rebuild of every view holds at most this many.
        self.cache = OrderCache(cache_orders)
        self.ledger = ledger
        # The own-tables database: pass one built from the settings' URL; without it the
        # runner opens the database the ledger was configured with (and closes it).
        self._owns_store = store is None
        self.store = store or Database.for_ledger(ledger)
        self.views: dict[str, View] = {v.name: v for v in (views or default_views())}
        for view in self.views.values():
            if isinstance(view, OrderView):
                view.cache = self.cache
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.watchdog_interval = watchdog_interval
        self.listen = listen
        self._db: Db | None = None
        self._reader: Db | None = None
        self._reader_lock = threading.Lock()
        self._lock = threading.RLock()
        self._progress = threading.Condition()
        self._positions: dict[str, int] = {}
        self._epochs: dict[str, int] = {}
        self._paused: set[str] = set()
        self._wake = threading.Event()
        self._running = 0
        self._listener: Listener | None = None
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None
        self._ready = False
        # Positions read from the tracking table, shared by waiting readers for a few ms.
        self._read_positions: dict[str, int] = {}
        self._read_at = 0.0
        # When a runner elsewhere (``views run``) last moved a view past this one's writes.
        self._elsewhere_at = -1e9

    # ------------------------------------------------------------------ connections

    def _conn(self) -> Db:
        if self._db is None:
            self._db = self.store.connect()
        return self._db

    def _drop_conn(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._positions = {}
        for view in self.views.values():
            view.reset()

    def _read(self, fn: Callable[[Db], Any]) -> Any:
        """Run a read on the runner's reader connection, reconnecting once if it died."""
        with self._reader_lock:
            for attempt in (1, 2):
                if self._reader is None:
                    self._reader = self.store.connect()
                try:
                    return fn(self._reader)
                except connection_errors():
                    self._reader.close()
                    self._reader = None
                    if attempt == 2:
                        raise
        return None  # pragma: no cover

    @property
    def listener_pid(self) -> int | None:
        """The PostgreSQL backend of the LISTEN connection (None when not listening)."""
        listener = self._listener
        return listener.backend_pid if listener is not None else None

    @property
    def writer_pid(self) -> int | None:
        """The PostgreSQL backend of the connection that writes the views."""
        db = self._db
        return db.backend_pid() if db is not None else None

    # ------------------------------------------------------------------ set-up and positions

    def setup(self) -> None:
        """Create the tracking table and every view's tables when missing."""
        with self._lock:
            for attempt in range(5):
                db = self._conn()
                try:
                    with db.transaction():
                        db.execute(
                            f"CREATE TABLE IF NOT EXISTS {T_TRACKING} (view TEXT PRIMARY KEY, "
                            "position BIGINT NOT NULL, updated_at TEXT, "
                            "epoch BIGINT NOT NULL DEFAULT 0)"
                        ).close()
                        if not self._has_epoch(db):  # a tracking table of an older version
                            db.execute(
                                f"ALTER TABLE {T_TRACKING} "
                                "ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0"
                            ).close()
                        for view in self.views.values():
                            view.create_tables(db)
                            db.execute(
                                f"INSERT INTO {T_TRACKING} (view, position, updated_at) "
                                "VALUES (?, 0, ?) ON CONFLICT (view) DO NOTHING",
                                (view.name, _now()),
                            ).close()
                    self._ready = True
                    return
                except Exception:
                    # another process creating the same tables at the same moment, or a
                    # lost connection: start again on a fresh connection
                    self._drop_conn()
                    if attempt == 4:
                        raise
                    time.sleep(0.2 * (attempt + 1))

    def _has_epoch(self, db: Db) -> bool:
        if self.store.is_postgres:
            rows = db.query(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = ? AND column_name = 'epoch'",
                (T_TRACKING,),
            )
        else:
            rows = [r for r in db.query(f"PRAGMA table_info({T_TRACKING})") if r[1] == "epoch"]
        return bool(rows)

    def _check_epochs(self, db: Db, names: Sequence[str]) -> None:
        """Forget what this runner holds in memory of a view rebuilt by someone else.

        A rebuild (in any process) resets the view's position and bumps its epoch in one
        transaction; a runner that sees a new epoch drops its cached position and the view's
        memory cache, and carries on from the recorded position: it finishes a rebuild that
        was interrupted, and follows one that is running.
        """
        rows = db.query_in(f"SELECT view, epoch FROM {T_TRACKING} WHERE view IN {{in}}", names)
        db.end_read()
        for name, epoch in rows:
            known = self._epochs.get(name)
            if known is not None and known != int(epoch):
                log.info(
                    "view %s was rebuilt elsewhere; following from its recorded position", name
                )
                self._positions.pop(name, None)
                self.views[name].reset()
            self._epochs[name] = int(epoch)

    def _ensure_ready(self) -> None:
        if not self._ready:
            self.setup()

    def _load_positions(self, db: Db, names: Sequence[str]) -> dict[str, int]:
        missing = [n for n in names if n not in self._positions]
        if missing:
            rows = db.query_in(
                f"SELECT view, position FROM {T_TRACKING} WHERE view IN {{in}}", missing
            )
            db.end_read()
            for name, position in rows:
                self._positions[name] = int(position)
            for name in missing:
                self._positions.setdefault(name, 0)
        return {n: self._positions[n] for n in names}

    def positions(self, max_age: float = 0.0) -> dict[str, int]:
        """Each view's position in the ledger, as recorded in the database (a read at most
        ``max_age`` seconds old may answer: many waiting readers share one query)."""
        self._ensure_ready()

        def read(db: Db) -> dict[str, int]:
            if max_age > 0 and time.monotonic() - self._read_at <= max_age:
                return dict(self._read_positions)
            rows = db.query(f"SELECT view, position FROM {T_TRACKING}")
            db.end_read()
            got = {str(r[0]): int(r[1]) for r in rows if r[0] in self.views}
            self._noticed(got)
            self._read_positions, self._read_at = got, time.monotonic()
            return dict(got)

        result: dict[str, int] = self._read(read)
        return result

    def _noticed(self, recorded: dict[str, int]) -> None:
        """Note whether another runner moved a view since the last read (past this one's
        own writes): then readers wait for it rather than fold the same events again."""
        before = self._read_positions
        for name, at in recorded.items():
            if at > before.get(name, at) and at > self._positions.get(name, -1):
                self._elsewhere_at = time.monotonic()
                return

    def followed_elsewhere(self) -> bool:
        """Whether a runner in another process (``views run``) has been seen moving the
        views within the last ``watchdog_interval`` + 1 s."""
        return time.monotonic() - self._elsewhere_at < self.watchdog_interval + 1.0

    def head(self) -> int:
        """The ledger's newest position."""
        return int(self.ledger.recorder.max_notification_id() or 0)

    # ------------------------------------------------------------------ one batch

    def _decode(self, notifications: Sequence[Any]) -> list[Logged]:
        mapper = self.ledger.mapper
        out: list[Logged] = []
        for n in notifications:
            kind = kind_of(n.topic)
            if kind is None:
                continue
            event = mapper.to_domain_event(n)
            out.append(Logged(n.id, kind[0], kind[1], event, str(n.originator_id)))
        return out

    def _step(self, names: Sequence[str]) -> int:
        """Fold one batch into the named views; returns how many notifications were read."""
        with self._lock:
            db = self._conn()
            try:
                self._check_epochs(db, names)
                positions = self._load_positions(db, names)
                start = min(positions.values()) + 1
                notifications = self.ledger.recorder.select_notifications(start, self.batch_size)
                if not notifications:
                    return 0
                last = int(notifications[-1].id)
                decoded = self._decode(notifications)
                for name in names:
                    at = positions[name]
                    if at >= last:
                        continue
                    items = decoded if at < start else [i for i in decoded if i.position > at]
                    self._apply(db, self.views[name], items, at, last)
            except LostRaceError:
                log.info("another runner advanced a view; reloading positions")
                self._positions = {}
                for view in self.views.values():
                    view.reset()
                return -1
            except BaseException:
                self._drop_conn()
                raise
        with self._progress:
            self._progress.notify_all()
        return len(notifications)

    def _apply(self, db: Db, view: View, items: Sequence[Logged], at: int, last: int) -> None:
        try:
            with db.transaction():
                view.apply_batch(db, items)
                cur = db.execute(
                    f"UPDATE {T_TRACKING} SET position = ?, updated_at = ? "
                    "WHERE view = ? AND position = ?",
                    (last, _now(), view.name, at),
                )
                changed = cur.rowcount
                cur.close()
                if changed != 1:
                    raise LostRaceError(view.name)
        except LostRaceError:
            view.reset()
            self._positions.pop(view.name, None)
            raise
        except Exception as exc:
            view.reset()
            self._positions.pop(view.name, None)
            if self._moved_on(db, view.name, at):
                # Another runner wrote this batch first (its rows clashed with ours).
                raise LostRaceError(view.name) from exc
            raise
        except BaseException:
            view.reset()
            self._positions.pop(view.name, None)
            raise
        self._positions[view.name] = last

    def _moved_on(self, db: Db, name: str, at: int) -> bool:
        """Whether the view's recorded position is no longer ``at`` (best effort)."""
        try:
            rows = db.query_in(f"SELECT position FROM {T_TRACKING} WHERE view IN {{in}}", [name])
            db.end_read()
        except Exception:
            return False
        return bool(rows) and int(rows[0][0]) != at

    # ------------------------------------------------------------------ public operations

    def active_views(self) -> list[str]:
        return [n for n in self.views if n not in self._paused]

    def catch_up(
        self,
        views: Sequence[str] | None = None,
        *,
        progress: Progress | None = None,
        retries: int = 3,
    ) -> int:
        """Fold everything up to the ledger's head into the views; returns events read."""
        self._ensure_ready()
        names = list(views) if views is not None else self.active_views()
        if not names:
            return 0
        total = self.head()
        done = 0
        failures = 0
        while True:
            try:
                n = self._step(names)
            except connection_errors():
                failures += 1
                if failures > retries:
                    raise
                time.sleep(0.2 * failures)
                continue
            if n < 0:
                continue
            done += n
            if progress is not None:
                current = min(self._positions.get(v, 0) for v in names)
                progress(min(current, total) if total else current, max(total, current))
            if n < self.batch_size:
                return done

    def wake(self) -> None:
        """Make a following runner look at the ledger now (e.g. right after a command)."""
        self._wake.set()

    def pause(self, name: str) -> None:
        """Stop following one view (the others go on)."""
        self._check(name)
        self._paused.add(name)

    def resume(self, name: str) -> None:
        """Follow a paused view again."""
        self._check(name)
        self._paused.discard(name)
        self.wake()

    def _check(self, name: str) -> None:
        if name not in self.views:
            raise KeyError(f"no view named {name!r}; views: {', '.join(self.views)}")

    def run_forever(self, stop_event: threading.Event) -> None:
        """Follow the ledger until ``stop_event`` is set.

        Wakes on PostgreSQL NOTIFY (LISTEN on the ledger's channel), on :meth:`wake`, on a
        short poll (SQLite) and on a watchdog poll (every ``watchdog_interval``) whatever
        happens to the listening connection; lost connections are reopened.
        """
        self._running += 1
        backoff = 0.1
        next_listen = 0.0
        try:
            while not stop_event.is_set():
                wants_listener = self.listen and self.store.is_postgres and self._listener is None
                if wants_listener and time.monotonic() >= next_listen:
                    try:
                        self._listener = self.store.listener()
                    except connection_errors() as exc:
                        log.warning("cannot LISTEN (%s); polling until it works", exc)
                        next_listen = time.monotonic() + self.watchdog_interval
                try:
                    self._ensure_ready()
                    names = self.active_views()
                    n = self._step(names) if names else 0
                    backoff = 0.1
                except connection_errors() as exc:
                    log.warning("view database connection lost (%s); reconnecting", exc)
                    stop_event.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if n < 0 or n >= self.batch_size:
                    continue
                self._idle(stop_event)
        finally:
            self._running -= 1
            if self._running == 0 and self._listener is not None:
                self._listener.close()
                self._listener = None

    def _idle(self, stop_event: threading.Event) -> None:
        """Wait for news: a notification, a wake-up, the poll or the watchdog."""
        deadline = time.monotonic() + (
            self.watchdog_interval if self._listener is not None else self.poll_interval
        )
        while not stop_event.is_set():
            if self._wake.is_set():
                self._wake.clear()
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            listener = self._listener
            if listener is None:
                self._wake.wait(min(remaining, self.poll_interval))
                continue
            try:
                if listener.wait(min(remaining, 0.1)):
                    return
            except Exception as exc:
                log.warning("listening connection lost (%s); the watchdog poll goes on", exc)
                listener.close()
                self._listener = None
                return

    def start(self) -> threading.Thread:
        """Run :meth:`run_forever` in a daemon thread; :meth:`stop` ends it."""
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.run_forever, args=(self._stop,), name="floorledger-views", daemon=True
        )
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread started by :meth:`start`."""
        if self._stop is not None:
            self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_until(
        self, position: int, timeout: float = 5.0, views: Sequence[str] | None = None
    ) -> bool:
        """Block until the views have folded the ledger up to ``position``; False on timeout.

        For reads that must see a just-recorded write (read-your-writes). When no runner
        thread follows the ledger in this process, the caller's thread catches up itself,
        unless a runner in another process (``views run``) is seen following: then the
        caller watches the recorded positions (every ``WATCH_SECONDS``, one query shared by
        all waiting callers) rather than fold the same events a second time, and catches up
        itself only once that runner has not been seen moving for a while.
        """
        names = list(views) if views is not None else self.active_views()
        deadline = time.monotonic() + timeout
        self._ensure_ready()
        while True:
            elsewhere = self._running == 0 and self.followed_elsewhere()
            if self._running == 0 and not elsewhere:
                try:
                    self.catch_up(names)
                except connection_errors():
                    pass
            # a shared read only while watching another process; otherwise a fresh one
            current = self.positions(max_age=WATCH_SECONDS / 2 if elsewhere else 0.0)
            if names and min(current.get(n, 0) for n in names) >= position:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if elsewhere:
                time.sleep(min(remaining, WATCH_SECONDS))
                continue
            self.wake()
            with self._progress:
                self._progress.wait(min(remaining, 0.05))

    def rebuild(self, name: str, *, progress: Progress | None = None) -> RebuildResult:
        """Drop a view's tables, create them again, reset its position to 0 and replay.

        Runners in other processes notice the new epoch on their next poll and follow; if
        this rebuild is interrupted, any runner (a running API, the next start) finishes it
        from the recorded position.
        """
        self._check(name)
        view = self.views[name]
        self._ensure_ready()
        started = time.perf_counter()
        with self._lock:
            db = self._conn()
            try:
                with db.transaction():
                    view.drop_tables(db)
                    view.create_tables(db)
                    db.execute(
                        f"UPDATE {T_TRACKING} SET position = 0, epoch = epoch + 1, "
                        "updated_at = ? WHERE view = ?",
                        (_now(), name),
                    ).close()
                    rows = db.query_in(
                        f"SELECT epoch FROM {T_TRACKING} WHERE view IN {{in}}", [name]
                    )
            except BaseException:
                self._drop_conn()
                raise
            view.reset()
            self._positions[name] = 0
            self._epochs[name] = int(rows[0][0])
        events = self.catch_up([name], progress=progress)
        seconds = time.perf_counter() - started
        return RebuildResult(name, events, seconds, self._positions.get(name, 0))

    def close(self) -> None:
        """Stop following and close the runner's connections (not the ledger)."""
        self.stop()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._owns_store:
            self.store.dispose()

    def __enter__(self) -> ViewRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
