"""The in-flight deadline of a command (#11): a caller that must answer within a time (a floor
request) sets it for its thread; lock waits, retries and store calls made for the command on
that thread stop when it has passed, with :class:`CommandDeadlineError` (a store error: the
API answers ``503 store-unavailable``). Without a deadline nothing changes: the store
library's own retries apply.

It also tells where a stored event sits in the ledger (:func:`stored_position`), so a command
whose write landed although the store's answer was lost reports the original position."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.sqlite import SQLiteAggregateRecorder

_local = threading.local()
RETRY_WAIT_SECONDS = 0.1
# The store calls a command makes: bounded by its deadline (the library retries each one
# ten times, each try waiting for a pooled connection, so one call can take 20 s and more).
BOUNDED_CALLS = ("insert_events", "select_events", "max_notification_id")


class CommandDeadlineError(OperationalError):
    """The store did not answer within the command's deadline; the command's write may or
    may not have been recorded (it is never recorded twice: see docs/operations.md)."""

    def __init__(self, seconds: float, detail: str = "") -> None:
        self.seconds = seconds
        why = f": {detail}" if detail else ""
        super().__init__(f"the store did not answer within the {seconds:g} s deadline{why}")


@contextlib.contextmanager
def command_deadline(seconds: float | None) -> Iterator[None]:
    """Run the block under a deadline ``seconds`` from now (None: no deadline). An outer,
    earlier deadline stays in force."""
    if seconds is None:
        yield
        return
    before = current()
    at = (time.monotonic() + seconds, seconds)
    _local.at = before if before is not None and before[0] <= at[0] else at
    try:
        yield
    finally:
        _local.at = before


@contextlib.contextmanager
def deadline_at(at: tuple[float, float] | None) -> Iterator[None]:
    """Run the block under an absolute deadline taken from :func:`current` (None: none)."""
    before = getattr(_local, "at", None)
    _local.at = at
    try:
        yield
    finally:
        _local.at = before


def current() -> tuple[float, float] | None:
    """This thread's deadline: (monotonic time, the seconds it was set for), or None."""
    at: tuple[float, float] | None = getattr(_local, "at", None)
    return at


def remaining() -> float | None:
    """Seconds left before this thread's deadline (never negative), or None without one."""
    at = current()
    return None if at is None else max(0.0, at[0] - time.monotonic())


def check(detail: str = "") -> None:
    """Raise CommandDeadlineError when this thread's deadline has passed."""
    at = current()
    if at is not None and time.monotonic() >= at[0]:
        raise CommandDeadlineError(at[1], detail)


def bound_store_calls(recorder: Any) -> None:
    """Make the recorder's command-path calls honour the caller's deadline: under a deadline
    a failed try (connection lost, no connection) is tried again only while time is left,
    then CommandDeadlineError; without one the library's retrying call runs unchanged."""
    bounded = False
    for name in BOUNDED_CALLS:
        method = getattr(recorder, name, None)
        once = getattr(method, "__wrapped__", None)  # the library's @retry keeps the original
        if method is None or once is None:
            continue
        setattr(recorder, name, _bounded(method, once.__get__(recorder), name))
        bounded = True
    pool = getattr(getattr(recorder, "datastore", None), "pool", None)
    if bounded and isinstance(getattr(pool, "timeout", None), int | float):
        _bound_pool_wait(pool)


def _bound_pool_wait(pool: Any) -> None:
    """A try waits for a pooled connection (PostgreSQL) no longer than the deadline allows."""
    connection = pool.connection

    def bounded(timeout: float | None = None) -> Any:
        left = remaining()
        if timeout is None and left is not None:
            timeout = max(0.01, min(float(pool.timeout), left))
        return connection(timeout=timeout)

    pool.connection = bounded


def _bounded(retrying: Callable[..., Any], once: Callable[..., Any], name: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        if current() is None:
            return retrying(*args, **kwargs)
        while True:
            check(name)
            try:
                return once(*args, **kwargs)
            except (InterfaceError, OperationalError) as exc:
                if isinstance(exc, CommandDeadlineError):
                    raise
                left = remaining()
                if left is not None and left <= RETRY_WAIT_SECONDS:
                    at = current()
                    raise CommandDeadlineError(at[1] if at else 0.0, str(exc)) from exc
                time.sleep(RETRY_WAIT_SECONDS)

    call.__wrapped__ = once  # type: ignore[attr-defined]
    return call


def retry_thrice(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` tried up to three times when the connection fails (no deadline set)."""

    def call() -> Any:
        for attempt in range(3):
            try:
                return fn()
            except (InterfaceError, OperationalError):
                if attempt == 2:
                    raise
                time.sleep(RETRY_WAIT_SECONDS)
        return None  # pragma: no cover

    return call


def stored_position(recorder: Any, originator_id: UUID, version: int) -> int | None:
    """The ledger position (notification id) of an aggregate's stored event, or None when it
    is not stored or the store cannot say."""
    table = getattr(recorder, "events_table_name", None)
    datastore = getattr(recorder, "datastore", None)
    if not isinstance(table, str) or datastore is None:
        return None
    if isinstance(recorder, SQLiteAggregateRecorder):
        statement = f"SELECT rowid FROM {table} WHERE originator_id=? AND originator_version=?"
        params: tuple[Any, ...] = (originator_id.hex, version)
        column = "rowid"
    else:  # PostgreSQL: the schema-qualified table, psycopg's parameters
        schema = str(getattr(datastore, "schema", "public")).replace('"', '""')
        quoted = table.replace('"', '""')
        statement = (
            f'SELECT notification_id FROM "{schema}"."{quoted}" '
            "WHERE originator_id=%s AND originator_version=%s"
        )
        params = (originator_id, version)
        column = "notification_id"

    def select() -> Any:
        with datastore.transaction(commit=False) as curs:
            curs.execute(statement, params)
            return curs.fetchone()

    row = _bounded(retry_thrice(select), select, "stored_position")()
    if row is None:
        return None
    value = row[column] if not isinstance(row, tuple) else row[0]
    return int(value) if value is not None else None


__all__ = [
    "CommandDeadlineError",
    "bound_store_calls",
    "check",
    "command_deadline",
    "current",
    "deadline_at",
    "remaining",
    "stored_position",
]
