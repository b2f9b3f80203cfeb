"""Reading the views: the query functions the HTTP API and the CLI serve."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from projections import conflicts as _conflicts
from projections import events_index as _events
from projections import plan as _plan
from projections import script as _script
from projections import status as _status
from projections import warnings_view as _warnings
from projections.conflicts import ConflictRow
from projections.db import Database, Db, connection_errors
from projections.events_index import IndexedEvent
from projections.plan import ActiveOrder, WorkCentrePlan
from projections.runner import T_TRACKING
from projections.script import ScriptFilter, ScriptRow
from projections.status import OrderStatus, OrderSummary
from projections.warnings_view import WarningRow

T = TypeVar("T")


class ViewReader:
    """Read-only access to the views: each read borrows one of at most
    ``store.max_connections`` connections (the pool size and overflow), reopened when lost."""

    def __init__(self, store: Database, *, owns_store: bool = False) -> None:
        self.store = store
        self._owns_store = owns_store
        # Idle connections, and a bound on those in use: an API serving 100 readers in 100
        # threads holds no more connections than its pool settings allow (before, one per
        # thread, which could exhaust PostgreSQL's max_connections).
        self._idle: list[Db] = []
        self._slots = threading.BoundedSemaphore(max(1, store.max_connections))
        self._all: list[Db] = []
        self._lock = threading.Lock()

    @classmethod
    def for_ledger(cls, ledger: Any) -> ViewReader:
        return cls(Database.for_ledger(ledger), owns_store=True)

    def _borrow(self) -> Db:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        db = self.store.connect()
        with self._lock:
            self._all.append(db)
        return db

    def _drop(self, db: Db) -> None:
        db.close()
        with self._lock:
            if db in self._all:
                self._all.remove(db)

    def _run(self, fn: Callable[[Db], T]) -> T:
        with self._slots:
            for attempt in (1, 2):
                db = self._borrow()
                try:
                    result = fn(db)
                except connection_errors():
                    self._drop(db)
                    if attempt == 2:
                        raise
                    continue
                except BaseException:
                    try:
                        db.rollback()
                    except Exception:
                        self._drop(db)
                        raise
                    self._give_back(db)
                    raise
                self._give_back(db)
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _give_back(self, db: Db) -> None:
        with self._lock:
            if db in self._all:
                self._idle.append(db)

    def plan(self, work_centre: str, integration: str | None = None) -> WorkCentrePlan:
        """Open operations at a work centre (due date, then priority) and its active order."""
        return self._run(lambda db: _plan.plan(db, work_centre, integration=integration))

    def work_centres(self) -> list[str]:
        """Work centres with open operations or a known measuring point."""
        return self._run(_plan.work_centres)

    def active_orders(self) -> list[ActiveOrder]:
        """The order running on each measuring point (mode A)."""
        return self._run(_plan.active_orders)

    def status(self, order_no: str, integration: str) -> OrderStatus | None:
        """One order's state, operations, totals and counts; None when unknown."""
        return self._run(lambda db: _status.status(db, order_no, integration))

    def integrations_of(self, order_no: str) -> list[str]:
        """The integrations that hold an order with this ERP order number."""

        def read(db: Db) -> list[str]:
            rows = db.query(
                f"SELECT DISTINCT integration FROM {_status.T_STATUS} WHERE order_no = ? "
                "ORDER BY integration",
                (order_no,),
            )
            db.end_read()
            return [str(r[0]) for r in rows]

        return self._run(read)

    def versions_seen(self) -> dict[tuple[str, str], int]:
        """Per (integration, order number), the highest order version the status view folded."""

        def read(db: Db) -> dict[tuple[str, str], int]:
            rows = db.query(f"SELECT integration, order_no, version FROM {_status.T_STATUS}")
            db.end_read()
            return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}

        return self._run(read)

    def orders(
        self,
        *,
        integration: str | None = None,
        state: str | None = None,
        limit: int = 500,
        offset: int = 0,
    ) -> list[OrderSummary]:
        """Orders with their totals, most recent floor activity first."""
        return self._run(
            lambda db: _status.status_list(
                db, integration=integration, state=state, limit=limit, offset=offset
            )
        )

    def report_script(self, filters: ScriptFilter | None = None) -> list[ScriptRow]:
        """Report-script rows in ledger order."""
        return self._run(lambda db: _script.report_script(db, filters))

    def conflicts(
        self,
        open_only: bool = False,
        *,
        integration: str | None = None,
        order_no: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[ConflictRow]:
        """Conflicts, oldest first."""
        return self._run(
            lambda db: _conflicts.conflicts(
                db,
                open_only=open_only,
                integration=integration,
                order_no=order_no,
                limit=limit,
                offset=offset,
            )
        )

    def warnings(
        self,
        relevant_only: bool = False,
        *,
        integration: str | None = None,
        order_no: str | None = None,
        workstation: str | None = None,
        code: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[WarningRow]:
        """Warnings, newest first."""
        return self._run(
            lambda db: _warnings.warnings(
                db,
                relevant_only=relevant_only,
                integration=integration,
                order_no=order_no,
                workstation=workstation,
                code=code,
                limit=limit,
                offset=offset,
            )
        )

    def events_by_actor(
        self,
        actor: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 500,
    ) -> tuple[list[IndexedEvent], bool]:
        """Order events ``actor`` recorded in [since, until) (the newest ``limit``, oldest
        first), from the whole ledger; and whether more matched."""
        return self._run(lambda db: _events.events_by_actor(db, actor, since, until, limit))

    def events_of_kind(self, event: str, limit: int = 50) -> list[IndexedEvent]:
        """The newest order events of one class, newest first."""
        return self._run(lambda db: _events.events_of_kind(db, event, limit))

    def positions(self) -> dict[str, int]:
        """Each view's ledger position."""

        def read(db: Db) -> dict[str, int]:
            rows = db.query(f"SELECT view, position FROM {T_TRACKING}")
            db.end_read()
            return {str(r[0]): int(r[1]) for r in rows}

        return self._run(read)

    def close(self) -> None:
        with self._lock:
            for db in self._all:
                db.close()
            self._all = []
            self._idle = []
        if self._owns_store:
            self.store.dispose()
