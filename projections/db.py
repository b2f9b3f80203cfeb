"""floorledger's own tables (views, API tokens, writeback state): one access layer.

Built from the database URL of the settings (``sqlite:///file.db`` or
``postgresql://user@host/db?schema=NAME``) with SQLAlchemy Core. The own tables live next to
the events: the same SQLite file, the same PostgreSQL schema (``search_path``).

Two ways in, one engine:

- :class:`Db`, a connection held for a while (the view runner, the readers, the writeback
  pump). It runs portable SQL with ``?`` placeholders (``INSERT … ON CONFLICT … DO
  UPDATE`` is understood by SQLite ≥ 3.24 and PostgreSQL) through the SQLAlchemy connection,
  and Core statements through ``db.conn``. Its transactions are explicit (``transaction()``);
  on SQLite a write transaction takes the write lock at once (``BEGIN IMMEDIATE``).
- :meth:`Database.ensure` / :meth:`Database.engine` for tables declared with SQLAlchemy
  ``Table`` / ``MetaData`` (tokens, writeback state), created on first use.

Nothing here reads the event recorder: the URL comes from the settings, or (for callers that
only hold a Ledger) from the eventsourcing environment the Ledger was built with.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.pool import QueuePool

try:  # psycopg is a dependency, but keep SQLite-only use importable without it
    import psycopg
    import psycopg.sql
except ImportError:  # pragma: no cover
    psycopg = None  # type: ignore[assignment]

SQLITE = "sqlite"
POSTGRES = "postgres"
# eventsourcing's event tables: "stored_events" on SQLite, "<application>_events" on PostgreSQL
SQLITE_EVENTS_TABLE = "stored_events"
POSTGRES_EVENTS_TABLE = "ledger_events"
SCHEMA_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_RECONNECT_ERRORS: tuple[type[BaseException], ...] = (
    sqlite3.OperationalError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
)
if psycopg is not None:
    _RECONNECT_ERRORS = (*_RECONNECT_ERRORS, psycopg.OperationalError, psycopg.InterfaceError)


def connection_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean the database connection is gone or busy, worth a reconnect and retry."""
    return _RECONNECT_ERRORS


def is_integrity_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a unique or primary-key violation (on either database)."""
    return isinstance(exc, sa_exc.IntegrityError | sqlite3.IntegrityError) or (
        psycopg is not None and isinstance(exc, psycopg.IntegrityError)
    )


class Db:
    """One connection to floorledger's own tables, with portable SQL (``?`` placeholders)."""

    def __init__(self, dialect: str, conn: sa.Connection) -> None:
        self.dialect = dialect
        self.conn = conn
        # The driver's connection (sqlite3 or psycopg): for LISTEN and the backend pid.
        self.raw: Any = conn.connection.dbapi_connection
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
        """Run one statement; returns its result (``rowcount``, ``fetchall()``, ``close()``)."""
        return self.conn.exec_driver_sql(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many rows (pipelined on PostgreSQL)."""
        rows = [tuple(r) for r in rows]
        if rows:
            self.conn.exec_driver_sql(self._sql(sql), rows).close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a SELECT as tuples."""
        result = self.execute(sql, params)
        try:
            return [tuple(r) for r in result.fetchall()]
        finally:
            result.close()

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

    def insert(self, table: sa.Table) -> Any:
        """An INSERT for ``table`` that knows ``on_conflict_do_update/nothing`` on this database."""
        if self.dialect == SQLITE:
            return sqlite_dialect.insert(table)
        return pg_dialect.insert(table)

    def begin(self) -> None:
        """Start a write transaction (SQLite takes the write lock at once)."""
        if self.dialect == SQLITE:
            # The sqlite3 driver runs in autocommit mode (isolation_level=None): the
            # transaction is ours to open; SQLAlchemy's commit/rollback end it.
            self.conn.exec_driver_sql("BEGIN IMMEDIATE")
        self.in_transaction = True

    def commit(self) -> None:
        self.conn.commit()
        self.in_transaction = False

    def rollback(self) -> None:
        self.in_transaction = False
        with suppress(Exception):
            self.conn.rollback()

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
            self.conn.rollback()

    def backend_pid(self) -> int | None:
        """The PostgreSQL server process serving this connection (None on SQLite)."""
        if self.dialect == POSTGRES:
            return int(self.raw.info.backend_pid)
        return None

    def close(self) -> None:
        with suppress(Exception):
            self.conn.close()


def _sqlite_path(url: str) -> str:
    if not url.startswith("sqlite:///"):
        raise ValueError(f"database URL {url!r} names no SQLite file (use sqlite:///path.db)")
    path = unquote(url[len("sqlite:///") :].split("?", 1)[0])
    if not path:
        raise ValueError(f"database URL {url!r} names no SQLite file (use sqlite:///path.db)")
    return path


def _postgres_url(url: str) -> tuple[sa.URL, str]:
    parsed = sa.make_url(url)
    query = dict(parsed.query)
    schema = query.pop("schema", "public")
    if isinstance(schema, tuple):
        schema = schema[-1]
    if not SCHEMA_PATTERN.match(schema):
        raise ValueError(
            f"database URL schema {schema!r} must be a plain identifier "
            "(letters, digits, '_', at most 63)"
        )
    return parsed.set(drivername="postgresql+psycopg", query=query), schema


class Database:
    """Where floorledger's own tables live: the ledger's database (same SQLite file, same PG
    schema), reached through one SQLAlchemy engine."""

    def __init__(
        self,
        url: str,
        *,
        events_table: str | None = None,
        lock_timeout: float = 10.0,
        connect_timeout: int = 5,
        pool_size: int = 5,
        max_overflow: int = 10,
    ) -> None:
        scheme = urlsplit(url).scheme
        self.lock_timeout = lock_timeout
        # The most connections this database's users hold at once (the pool and its overflow)
        self.max_connections = pool_size + max_overflow
        self.channel: str | None = None
        self.sqlite_path = ""
        self.schema = "public"
        self._ensured: set[int] = set()
        self._ensure_lock = threading.Lock()
        if scheme == "sqlite":
            self.dialect = SQLITE
            self.events_table = events_table or SQLITE_EVENTS_TABLE
            self.sqlite_path = path = _sqlite_path(url)
            if path != ":memory:" and not path.startswith("file:"):
                Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)

            def connect() -> sqlite3.Connection:
                raw = sqlite3.connect(
                    path,
                    uri=path.startswith("file:"),
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=lock_timeout,
                )
                raw.execute("PRAGMA journal_mode=WAL")
                raw.execute("PRAGMA synchronous=NORMAL")
                return raw

            self.engine = sa.create_engine(
                "sqlite://",
                creator=connect,
                poolclass=QueuePool,
                pool_size=pool_size,
                max_overflow=-1,
            )
        elif scheme in ("postgresql", "postgres", "postgresql+psycopg"):
            self.dialect = POSTGRES
            self.events_table = events_table or POSTGRES_EVENTS_TABLE
            sa_url, self.schema = _postgres_url(url.replace("postgres://", "postgresql://", 1))
            # eventsourcing's recorder NOTIFYs on a channel named after its events table.
            self.channel = self.events_table.replace(".", "_")
            self.engine = sa.create_engine(
                sa_url,
                pool_pre_ping=True,
                pool_size=pool_size,
                # Bounded: a burst of requests waits for a connection rather than opening
                # one each until the server refuses everyone ("too many clients").
                max_overflow=max_overflow,
                pool_timeout=30,
                connect_args={
                    "connect_timeout": max(1, int(connect_timeout)),
                    "options": f"-c search_path={self.schema}",
                },
            )
        else:
            raise ValueError(
                f"database URL scheme {scheme!r} is not supported: "
                "use sqlite:///path/to/file.db or postgresql://user:pass@host:port/db"
            )

    @classmethod
    def for_ledger(cls, ledger: Any) -> Database:
        """The database a Ledger was configured with (from its eventsourcing environment)."""
        return cls.from_env(ledger.env, application=str(ledger.name))

    @classmethod
    def from_env(cls, env: Any, *, application: str = "Ledger") -> Database:
        """The database named by an eventsourcing environment (PERSISTENCE_MODULE, …)."""
        module = str(env.get("PERSISTENCE_MODULE") or "")
        if module == "eventsourcing.sqlite":
            path = str(env.get("SQLITE_DBNAME") or "")
            return cls(
                "sqlite:///" + path,
                lock_timeout=float(env.get("SQLITE_LOCK_TIMEOUT") or 10),
            )
        if module == "eventsourcing.postgres":
            url = sa.URL.create(
                "postgresql+psycopg",
                username=env.get("POSTGRES_USER") or None,
                password=env.get("POSTGRES_PASSWORD") or None,
                host=env.get("POSTGRES_HOST") or "127.0.0.1",
                port=int(env.get("POSTGRES_PORT") or 5432),
                database=env.get("POSTGRES_DBNAME") or "postgres",
                query={"schema": str(env.get("POSTGRES_SCHEMA") or "public")},
            )
            return cls(
                url.render_as_string(hide_password=False),
                events_table=f"{application.lower()}_events",
                connect_timeout=int(env.get("POSTGRES_CONNECT_TIMEOUT") or 5),
                # the same bounds as the ledger's own pool (FLOORLEDGER_PG_POOL_SIZE /
                # FLOORLEDGER_PG_MAX_OVERFLOW), so a process stays within what it was given
                pool_size=int(env.get("POSTGRES_POOL_SIZE") or 5),
                max_overflow=int(env.get("POSTGRES_MAX_OVERFLOW") or 10),
            )
        raise ValueError(
            f"floorledger's own tables need a SQLite or PostgreSQL ledger, not {module!r}"
        )

    @property
    def is_postgres(self) -> bool:
        return self.dialect == POSTGRES

    def connect(self, *, autocommit: bool = False) -> Db:
        """A connection of its own (not shared through the pool, closed by ``Db.close``)."""
        conn = self.engine.connect()
        if autocommit:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.detach()  # its session settings (and advisory locks) end with it
        if not autocommit and self.dialect == POSTGRES:
            # Own-table rows are derived data or positions that only ever cause a re-send:
            # if the server crashes, a lost commit loses rows and position together and the
            # work is done again. So these writes need not wait for the WAL flush.
            conn.exec_driver_sql("SET synchronous_commit = off")
            conn.commit()
        return Db(self.dialect, conn)

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A short transaction on a pooled connection, for Core statements (tokens)."""
        with self.engine.connect() as conn:
            if self.dialect == SQLITE:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def ensure(self, metadata: sa.MetaData) -> None:
        """Create the tables of ``metadata`` that are missing (once per Database)."""
        if id(metadata) in self._ensured:
            return
        with self._ensure_lock:
            for attempt in (1, 2, 3):
                try:
                    metadata.create_all(self.engine, checkfirst=True)
                    break
                except (sa_exc.IntegrityError, sa_exc.ProgrammingError, sa_exc.InternalError):
                    # another process created the same table at the same moment (PostgreSQL
                    # says so as a duplicate catalog row or "tuple concurrently updated")
                    if attempt == 3:
                        raise
            self._ensured.add(id(metadata))

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

    def dispose(self) -> None:
        """Close the pooled connections (connections from :meth:`connect` close themselves)."""
        self.engine.dispose()

    def __repr__(self) -> str:
        where = self.sqlite_path if self.dialect == SQLITE else f"schema {self.schema}"
        return f"Database({self.dialect}, {where})"


class Listener:
    """A PostgreSQL LISTEN connection: wakes the runner when the ledger commits events."""

    def __init__(self, database: Database) -> None:
        assert psycopg is not None and database.channel is not None
        self.db = database.connect(autocommit=True)
        self.db.raw.execute(
            psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(database.channel))
        )

    @property
    def backend_pid(self) -> int | None:
        return self.db.backend_pid()

    def wait(self, timeout: float) -> bool:
        """Block until a notification arrives (True) or ``timeout`` passes (False).

        Raises a connection error when the listening connection is dead.
        """
        raw = self.db.raw
        got = False
        for _ in raw.notifies(timeout=timeout, stop_after=1):
            got = True
        if raw.closed or raw.broken:
            raise psycopg.OperationalError("the listening connection is closed")
        return got

    def close(self) -> None:
        self.db.close()
