"""The views' store: DB-API connections to the ledger's own database (SQLite or PostgreSQL).

Every dialect difference (placeholders, transactions, schema, LISTEN/NOTIFY) lives here; the
views write portable SQL with ``?`` placeholders and ``INSERT … ON CONFLICT … DO UPDATE``,
which both SQLite (≥ 3.24) and PostgreSQL understand.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

SQLITE = "sqlite"
POSTGRES = "postgres"

# Errors after which a connection is thrown away and opened again.
_RECONNECT_ERRORS: tuple[type[BaseException], ...] = (sqlite3.OperationalError,)
try:  # psycopg is a dependency, but keep SQLite-only use importable without it
    import psycopg

    _RECONNECT_ERRORS = (sqlite3.OperationalError, psycopg.OperationalError, psycopg.InterfaceError)
except ImportError:  # pragma: no cover
    psycopg = None  # type: ignore[assignment]


def connection_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean the database connection is gone or busy, worth a reconnect and retry."""
    return _RECONNECT_ERRORS


class Db:
    """One connection to the views' database, with portable SQL (``?`` placeholders)."""

    def __init__(self, dialect: str, raw: Any) -> None:
        self.dialect = dialect
        self.raw = raw
        self._sql_cache: dict[str, str] = {}
        self.in_transaction = False

    def _sql(self, sql: str) -> str:
        if self.dialect == SQLITE:
            return sql
        cached = self._sql_cache.get(sql)
        if cached is None:
            cached = sql.replace("?", "%s")
            self._sql_cache[sql] = cached
        return cached

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns the DB-API cursor."""
        if self.dialect == SQLITE:
            return self.raw.execute(sql, params)
        cur = self.raw.cursor()
        cur.execute(self._sql(sql), params)
        return cur

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many rows (pipelined on PostgreSQL)."""
        rows = list(rows)
        if not rows:
            return
        if self.dialect == SQLITE:
            self.raw.executemany(sql, rows)
            return
        with self.raw.cursor() as cur:
            cur.executemany(self._sql(sql), rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a SELECT as tuples."""
        cur = self.execute(sql, params)
        try:
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    def query_in(
        self, sql: str, keys: Sequence[Any], params: Sequence[Any] = (), chunk: int = 500
    ) -> list[tuple[Any, ...]]:
        """Rows of a SELECT whose ``{in}`` marker is replaced by ``(?, ?, …)`` over ``keys``."""
        out: list[tuple[Any, ...]] = []
        for i in range(0, len(keys), chunk):
            part = keys[i : i + chunk]
            marks = "(" + ",".join("?" * len(part)) + ")"
            out.extend(self.query(sql.replace("{in}", marks), [*params, *part]))
        return out

    def execute_in(
        self, sql: str, keys: Sequence[Any], params: Sequence[Any] = (), chunk: int = 500
    ) -> None:
        """Run a statement whose ``{in}`` marker is replaced by ``(?, ?, …)`` over ``keys``."""
        for i in range(0, len(keys), chunk):
            part = keys[i : i + chunk]
            marks = "(" + ",".join("?" * len(part)) + ")"
            self.execute(sql.replace("{in}", marks), [*params, *part]).close()

    def begin(self) -> None:
        """Start a write transaction (SQLite takes the write lock at once)."""
        if self.dialect == SQLITE:
            self.raw.execute("BEGIN IMMEDIATE")
        self.in_transaction = True

    def commit(self) -> None:
        if self.dialect == SQLITE:
            self.raw.execute("COMMIT")
        else:
            self.raw.commit()
        self.in_transaction = False

    def rollback(self) -> None:
        self.in_transaction = False
        try:
            if self.dialect == SQLITE:
                if self.raw.in_transaction:
                    self.raw.execute("ROLLBACK")
            else:
                self.raw.rollback()
        except Exception:
            pass

    @contextmanager
    def transaction(self) -> Iterator[Db]:
        """A write transaction: committed on success, rolled back on any error."""
        self.begin()
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def end_read(self) -> None:
        """Finish an implicit read transaction (PostgreSQL opens one on the first SELECT)."""
        if self.dialect == POSTGRES and not self.in_transaction:
            self.raw.rollback()

    def backend_pid(self) -> int | None:
        """The PostgreSQL server process serving this connection (None on SQLite)."""
        if self.dialect == POSTGRES:
            return int(self.raw.info.backend_pid)
        return None

    def close(self) -> None:
        with suppress(Exception):
            self.raw.close()


@dataclass
class ViewStore:
    """Where the views live: the ledger's own database (same SQLite file, same PG schema)."""

    dialect: str
    sqlite_path: str = ""
    pg_kwargs: dict[str, Any] = field(default_factory=dict, repr=False)
    schema: str = "public"
    events_table: str = "ledger_events"
    channel: str | None = None
    lock_timeout: float = 10.0

    @classmethod
    def for_ledger(cls, ledger: Any) -> ViewStore:
        """The store of a running Ledger application (read from its recorder's datastore)."""
        recorder = ledger.recorder
        datastore = recorder.datastore
        table = str(recorder.events_table_name)
        module = type(recorder).__module__
        if module.startswith("eventsourcing.sqlite"):
            pool = datastore.pool
            return cls(
                SQLITE,
                sqlite_path=str(pool.db_name),
                events_table=table,
                lock_timeout=float(pool.lock_timeout or 10),
            )
        if module.startswith("eventsourcing.postgres"):
            kwargs = dict(datastore.pool.kwargs or {})
            kwargs.pop("row_factory", None)
            return cls(
                POSTGRES,
                pg_kwargs=kwargs,
                schema=str(datastore.schema),
                events_table=table,
                channel=getattr(recorder, "channel_name", None),
            )
        raise ValueError(f"views need a SQLite or PostgreSQL ledger, not {module}")

    @property
    def is_postgres(self) -> bool:
        return self.dialect == POSTGRES

    def connect(self, *, autocommit: bool = False, timeout: float = 5.0) -> Db:
        """A new connection; on PostgreSQL its search_path is the ledger's schema."""
        if self.dialect == SQLITE:
            raw = sqlite3.connect(
                self.sqlite_path,
                uri=self.sqlite_path.startswith("file:"),
                isolation_level=None,
                check_same_thread=False,
                timeout=self.lock_timeout,
            )
            raw.execute("PRAGMA journal_mode=WAL")
            raw.execute("PRAGMA synchronous=NORMAL")
            return Db(SQLITE, raw)
        assert psycopg is not None
        pg = psycopg.connect(
            autocommit=autocommit,
            connect_timeout=max(1, int(timeout)),
            options=f"-c search_path={self.schema}",
            **self.pg_kwargs,
        )
        if not autocommit:
            # View rows are derived data: if the server crashes, a lost commit loses rows and
            # position together and the runner folds those events again. So the views' writes
            # need not wait for the WAL flush.
            pg.execute("SET synchronous_commit = off")
            pg.commit()
        return Db(POSTGRES, pg)

    def head(self, db: Db) -> int:
        """The ledger's newest position (highest notification id), 0 when empty."""
        if self.dialect == SQLITE:
            rows = db.query(f"SELECT MAX(rowid) FROM {self.events_table}")
        else:
            rows = db.query(f'SELECT MAX(notification_id) FROM "{self.events_table}"')
            db.end_read()
        return int(rows[0][0] or 0)

    def listener(self) -> Listener | None:
        """A LISTEN connection on the ledger's notification channel (PostgreSQL only)."""
        if self.dialect != POSTGRES or not self.channel:
            return None
        return Listener(self)


class Listener:
    """A PostgreSQL LISTEN connection: wakes the runner when the ledger commits events."""

    def __init__(self, store: ViewStore) -> None:
        self.store = store
        self.db = store.connect(autocommit=True)
        assert store.channel is not None
        self.db.raw.execute(
            psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(store.channel))
        )

    @property
    def backend_pid(self) -> int | None:
        return self.db.backend_pid()

    def wait(self, timeout: float) -> bool:
        """Block until a notification arrives (True) or ``timeout`` passes (False).

        Raises a connection error when the listening connection is dead.
        """
        got = False
        for _ in self.db.raw.notifies(timeout=timeout, stop_after=1):
            got = True
        if self.db.raw.closed or self.db.raw.broken:
            raise psycopg.OperationalError("the listening connection is closed")
        return got

    def close(self) -> None:
        self.db.close()
