"""Settings (FLOORLEDGER_* environment variables) and construction of the Ledger on a store."""

from __future__ import annotations

import contextlib
import logging
import os
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain import InvalidValueError, Ledger
from domain.floortime import MAX_BACKDATE_SETTING, FloorTimes
from domain.ledger import Locator
from projections.db import Database

log = logging.getLogger(__name__)
# The longest a process waits for another one opening the same PostgreSQL schema (#11).
FIRST_START_WAIT_SECONDS = 120.0


class Settings(BaseSettings):
    """floorledger's settings, read from FLOORLEDGER_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="FLOORLEDGER_", extra="ignore")

    database_url: SecretStr = Field(
        default=SecretStr("sqlite:///floorledger.db"),
        description="sqlite:///path/to/file.db or postgresql://user:pass@host:port/db",
    )
    pg_pool_size: int = Field(default=5, ge=1, le=200)
    pg_max_overflow: int = Field(default=10, ge=0, le=500)
    sqlite_lock_timeout: int = Field(default=10, ge=1, le=600)
    default_integration: str = Field(default="erp", min_length=1, max_length=60)
    aggregate_cache_size: int = Field(default=5000, ge=0)
    max_backdate_hours: str = Field(
        default="24",
        description="how far back a floor time (at, started_at, ended_at) may lie, in hours; "
        "off: any past time (imports of history)",
    )

    @field_validator("max_backdate_hours")
    @classmethod
    def _window(cls, v: str) -> str:
        try:
            FloorTimes.from_setting(v)
        except InvalidValueError as exc:
            raise ValueError(str(exc)) from None
        return v.strip().lower()

    # Order states the views keep in memory between batches, all views of a runner together
    # (least recently used out first); bounds the memory of `views rebuild`.
    view_cache_orders: int = Field(default=10_000, ge=0, le=10_000_000)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, v: SecretStr) -> SecretStr:
        scheme = urlsplit(v.get_secret_value()).scheme
        if scheme not in ("sqlite", "postgresql", "postgres", "postgresql+psycopg"):
            raise ValueError(
                f"FLOORLEDGER_DATABASE_URL scheme {scheme!r} is not supported: "
                "use sqlite:///path/to/file.db or postgresql://user:pass@host:port/db"
            )
        return v

    @property
    def is_postgres(self) -> bool:
        return urlsplit(self.database_url.get_secret_value()).scheme.startswith("postgres")

    def redacted_url(self) -> str:
        """The database URL with any password replaced by ***."""
        from adapters.redact import redact_url

        return redact_url(self.database_url.get_secret_value())


def store_env(settings: Settings) -> dict[str, str]:
    """The eventsourcing environment for the configured store."""
    url = settings.database_url.get_secret_value()
    parts = urlsplit(url)
    # "0" means no cache at all (the Ledger drops the library's repository cache).
    env: dict[str, str] = {
        "AGGREGATE_CACHE_MAXSIZE": str(settings.aggregate_cache_size),
        MAX_BACKDATE_SETTING: settings.max_backdate_hours,
    }
    if parts.scheme == "sqlite":
        path = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"FLOORLEDGER_DATABASE_URL {url!r} names no SQLite file")
        if path != ":memory:" and not path.startswith("file:"):
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite",
            SQLITE_DBNAME=path,
            SQLITE_LOCK_TIMEOUT=str(settings.sqlite_lock_timeout),
        )
        return env
    query = parse_qs(parts.query)
    env.update(
        PERSISTENCE_MODULE="eventsourcing.postgres",
        POSTGRES_DBNAME=(parts.path or "/").lstrip("/") or "postgres",
        POSTGRES_HOST=parts.hostname or "127.0.0.1",
        POSTGRES_PORT=str(parts.port or 5432),
        POSTGRES_USER=unquote(parts.username or os.environ.get("USER", "postgres")),
        POSTGRES_PASSWORD=unquote(parts.password or ""),
        POSTGRES_POOL_SIZE=str(settings.pg_pool_size),
        POSTGRES_MAX_OVERFLOW=str(settings.pg_max_overflow),
        POSTGRES_CONNECT_TIMEOUT="5",
        POSTGRES_PRE_PING="y",
        # The library's recorder, sending a batch's events as binary arrays (pg_recorder.py).
        APPLICATION_RECORDER_TOPIC="adapters.pg_recorder:BinaryArrayRecorder",
    )
    if "schema" in query:
        env["POSTGRES_SCHEMA"] = query["schema"][0]
    return env


def build_ledger(
    settings: Settings | None = None, *, locate: Locator | None = None, **overrides: Any
) -> Ledger:
    """The Ledger on the configured store (tables are created when missing); ``locate`` finds
    the integrations holding an order number named without one."""
    settings = settings or Settings(**overrides)
    env = store_env(settings)
    with _first_start_lock(env):
        return Ledger(env=env, default_integration=settings.default_integration, locate=locate)


@contextlib.contextmanager
def _first_start_lock(env: dict[str, str]) -> Iterator[None]:
    """On PostgreSQL, one process at a time creates the ledger's tables: serve, sync and
    writeback run started together on a fresh database would otherwise race in CREATE TABLE
    IF NOT EXISTS, and one of them stop ("tuple concurrently updated", a duplicate pg_type
    row). A session advisory lock per schema, held while the Ledger is built; when the
    server cannot be reached, building the Ledger reports that as usual."""
    if env.get("PERSISTENCE_MODULE") != "eventsourcing.postgres":
        yield
        return
    import psycopg

    schema = env.get("POSTGRES_SCHEMA", "public")
    try:
        conn = psycopg.connect(
            host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"] or None,
            connect_timeout=int(env.get("POSTGRES_CONNECT_TIMEOUT", "5")), autocommit=True,
        )  # fmt: skip
    except psycopg.Error:
        conn = None
    if conn is None:
        yield
        return
    with conn:  # closing the session releases its advisory lock
        key = zlib.crc32(f"floorledger first start {schema}".encode())
        if not _try_lock(conn, key):
            _wait_for_lock(conn, key, schema)
        yield


def _try_lock(conn: Any, key: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])


def _wait_for_lock(conn: Any, key: int, schema: str) -> None:
    """Wait, saying so, for the process opening the store; past FIRST_START_WAIT_SECONDS
    raise the store's OperationalError (the API then starts without the store and tries
    again; the other commands say why they stop), naming the process holding the lock."""
    from eventsourcing.persistence import OperationalError

    log.warning(
        "another floorledger process is opening the ledger in PostgreSQL schema %r (creating "
        "its tables on a first start); waiting for it, at most %g s",
        schema,
        FIRST_START_WAIT_SECONDS,
    )
    deadline = time.monotonic() + FIRST_START_WAIT_SECONDS
    while not _try_lock(conn, key):
        if time.monotonic() >= deadline:
            row = conn.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = 0 AND objsubid = 1 AND objid = %s::bigint::oid LIMIT 1",
                (key,),
            ).fetchone()
            holder = f"PostgreSQL backend pid {row[0]}" if row else "a process now gone"
            raise OperationalError(
                f"another process ({holder}) has been opening the ledger in schema {schema!r} "
                f"for over {FIRST_START_WAIT_SECONDS:g} s; it may be stuck"
            )
        time.sleep(0.1)


def own_database(settings: Settings, *, connect_timeout: int = 5) -> Database:
    """floorledger's own tables (views, tokens, writeback state) beside the configured store."""
    return Database(
        settings.database_url.get_secret_value(),
        lock_timeout=settings.sqlite_lock_timeout,
        connect_timeout=connect_timeout,
        pool_size=settings.pg_pool_size,
        max_overflow=settings.pg_max_overflow,
    )
