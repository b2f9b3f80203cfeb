"""The plan read from an ERP staging table, view or query through SQLAlchemy Core.

The database URL is a secret (``url_env`` / ``url_file``); any SQLAlchemy URL works (SQL
Server, PostgreSQL, MariaDB/MySQL, Oracle). One row per routing operation, as for CSV.
A database that cannot be reached, or a table that is missing, makes the pass unavailable;
the next pass tries again. With ``release_state_value`` only rows in that state (or in a
cancelled state) are read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from adapters.config import ConfigError, Integration, SqlInbound, secret
from adapters.inbound.sync import SourceUnavailable, SyncSummary, apply_mapping
from adapters.mapping import MappingCheck, MappingResult, Record, map_records
from domain.ledger import Ledger

CONNECT_TIMEOUT = 5
FETCH_SIZE = 2000

# Drivers installed with floorledger, used when a URL names only the database kind.
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_CONNECT_ARGS: dict[str, dict[str, Any]] = {
    "postgresql": {"connect_timeout": CONNECT_TIMEOUT},
    "mysql": {"connect_timeout": CONNECT_TIMEOUT},
    "mariadb": {"connect_timeout": CONNECT_TIMEOUT},
    "mssql": {"timeout": CONNECT_TIMEOUT},
}

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def sql_inbound(integration: Integration) -> SqlInbound:
    """The integration's SQL settings (refused when it uses another transport)."""
    if not isinstance(integration.inbound, SqlInbound):
        raise ValueError(f"integration {integration.name!r} does not read a database")
    return integration.inbound


def database_url(raw: str) -> URL:
    """The SQLAlchemy URL, with floorledger's installed driver when the URL names none."""
    url = make_url(raw)
    if url.drivername in _DEFAULT_DRIVERS:
        url = url.set(drivername=_DEFAULT_DRIVERS[url.drivername])
    return url


def engine_for(raw_url: str) -> Engine:
    """One pooled engine per database URL for the life of the process."""
    with _engines_lock:
        engine = _engines.get(raw_url)
        if engine is None:
            url = database_url(raw_url)
            engine = sa.create_engine(
                url,
                pool_pre_ping=True,
                pool_size=2,
                max_overflow=2,
                connect_args=_CONNECT_ARGS.get(url.get_backend_name(), {}),
            )
            _engines[raw_url] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (at shutdown, and in tests)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def statement(integration: Integration) -> sa.Executable:
    """The SELECT that reads the staging table (by order and operation), or the query."""
    inbound = sql_inbound(integration)
    if inbound.query:
        return sa.text(inbound.query)
    stmt: sa.Select[Any] = sa.select(sa.literal_column("*")).select_from(
        sa.table(str(inbound.table), schema=inbound.db_schema)
    )
    fields = integration.field_map
    if inbound.release_state_value and fields.release_state:
        states = [inbound.release_state_value, *fields.cancelled_values]
        stmt = stmt.where(sa.column(fields.release_state).in_(states))
    # A stable order: plan passes list the same orders in the same sequence.
    keys = [fields.order_no] + ([fields.op_id] if fields.op_id and not fields.operations else [])
    return stmt.order_by(*(sa.column(k) for k in keys))


def fetch_records(integration: Integration) -> list[Record]:
    """Every row of the staging table (or query) as records numbered from 1."""
    inbound = sql_inbound(integration)
    try:
        raw_url = secret(inbound, "url").get_secret_value()
        engine = engine_for(raw_url)
    except (ConfigError, sa.exc.ArgumentError) as exc:
        raise SourceUnavailable(integration.name, f"database URL: {exc}") from exc
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=FETCH_SIZE).execute(
                statement(integration)
            )
            return list(_records(result))
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise SourceUnavailable(integration.name, f"{type(exc).__name__}: {reason}") from exc


def _records(result: sa.CursorResult[Any]) -> Iterator[Record]:
    for n, row in enumerate(result.mappings(), start=1):
        yield Record(n, dict(row))


def read(integration: Integration, *, check: MappingCheck | None = None) -> MappingResult:
    """Read and map the staging rows (no ledger writes)."""
    records = fetch_records(integration)
    return map_records(records, integration.field_map, integration.maps, check=check)


def sync(
    integration: Integration,
    ledger: Ledger,
    *,
    open_orders: Callable[[], Iterable[str]] | None = None,
) -> SyncSummary:
    """One pass: read the staging rows, map them, apply them with the shared semantics."""
    result = read(integration)
    return apply_mapping(integration, ledger, result, open_orders=open_orders, bulk=True)


__all__ = [
    "database_url",
    "dispose_engines",
    "engine_for",
    "fetch_records",
    "read",
    "sql_inbound",
    "statement",
    "sync",
]
