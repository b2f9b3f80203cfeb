"""SQL interface-table writeback through SQLAlchemy Core (PostgreSQL, MariaDB/MySQL, SQLite…).

Every row carries its idempotency key under a unique constraint; inserts skip keys already
there, so a replay inserts nothing twice. A batch is one transaction. Lost connections,
deadlocks and timeouts are transient; constraint and data errors (the ERP's validation)
refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from adapters.config import secret
from adapters.writeback.base import Outcome, Refused, TransientError, Transport
from adapters.writeback.config import SqlDestination
from adapters.writeback.messages import Message

# MySQL/MariaDB error numbers that are a refusal although raised as OperationalError.
_MYSQL_REFUSALS = {3819, 4025, 1048, 1264, 1265, 1366, 1406, 1292}


def interface_table(name: str, metadata: sa.MetaData, schema: str | None = None) -> sa.Table:
    """The interface table's layout (the flat row of ``adapters.writeback.messages``)."""
    dec = sa.Numeric(24, 6)
    return sa.Table(
        name,
        metadata,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("destination", sa.String(60), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("integration", sa.String(60), nullable=False),
        sa.Column("order_no", sa.String(80), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("operation", sa.String(60)),
        sa.Column("order_status", sa.String(20)),
        sa.Column("operation_status", sa.String(20)),
        sa.Column("good", dec),
        sa.Column("scrap", dec),
        sa.Column("scrap_reason", sa.String(400)),
        sa.Column("rework", dec),
        sa.Column("unit", sa.String(20)),
        sa.Column("passed", sa.Boolean),
        sa.Column("serial", sa.String(120)),
        sa.Column("batch", sa.String(120)),
        sa.Column("actual_seconds", dec),
        sa.Column("actual_seconds_per_unit", dec),
        sa.Column("standard_seconds", dec),
        sa.Column("standard_seconds_per_unit", dec),
        sa.Column("report_id", sa.String(80)),
        sa.Column("occurred_at", sa.String(40)),
        sa.Column("actor_id", sa.String(200)),
        sa.Column("actor_role", sa.String(20)),
        sa.Column("payload", sa.Text, nullable=False),
        sa.UniqueConstraint("idempotency_key", name=f"uq_{name}_key"),
        schema=schema,
    )


def _classify(exc: sa_exc.DBAPIError) -> Exception:
    """A transient or a refusal, by what the database said."""
    if exc.connection_invalidated:
        return TransientError(f"connection lost: {exc.orig}")
    orig = exc.orig
    code = orig.args[0] if orig is not None and orig.args else None
    if isinstance(exc, sa_exc.OperationalError):
        if isinstance(code, int) and code in _MYSQL_REFUSALS:
            return Refused(f"{type(orig).__name__}: {orig}")
        return TransientError(f"{type(orig).__name__}: {orig}")
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.DataError | sa_exc.ProgrammingError):
        return Refused(f"{type(orig).__name__}: {orig}")
    return TransientError(f"{type(orig).__name__}: {orig}")


class SqlTransport(Transport):
    """Inserts messages into the ERP's interface table."""

    def __init__(self, config: SqlDestination, engine: sa.Engine | None = None) -> None:
        self.config = config
        self.batch_size = config.batch_size
        if engine is None:
            url = secret(config, "url").get_secret_value()
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=0)
        self.engine = engine
        self.table = interface_table(config.table, sa.MetaData(), config.db_schema)
        self._created = not config.create_table

    def _insert(self, rows: list[dict[str, Any]]) -> Any:
        t = self.table
        name = self.engine.dialect.name
        if name == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(t).on_conflict_do_nothing(index_elements=["idempotency_key"])
        if name in ("mysql", "mariadb"):
            from sqlalchemy.dialects import mysql

            ins = mysql.insert(t)
            return ins.on_duplicate_key_update(idempotency_key=ins.inserted.idempotency_key)
        if name == "sqlite":
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(t).on_conflict_do_nothing(index_elements=["idempotency_key"])
        return None

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        rows = [m.row() for m in messages]
        try:
            with self.engine.begin() as conn:
                if not self._created:
                    self.table.create(conn, checkfirst=True)
                stmt = self._insert(rows)
                if stmt is not None:
                    conn.execute(stmt, rows)
                else:  # any other database: skip the keys already there, in this transaction
                    keys = [r["idempotency_key"] for r in rows]
                    have = set(
                        conn.scalars(
                            sa.select(self.table.c.idempotency_key).where(
                                self.table.c.idempotency_key.in_(keys)
                            )
                        )
                    )
                    todo = [r for r in rows if r["idempotency_key"] not in have]
                    if todo:
                        conn.execute(self.table.insert(), todo)
            self._created = True
        except sa_exc.DBAPIError as exc:
            raise _classify(exc) from exc
        return [None] * len(messages)

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["SqlTransport", "interface_table"]
