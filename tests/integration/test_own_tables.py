"""floorledger's own tables (views, tokens, writeback state) through one access layer."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import psycopg
import pytest

from adapters.tokens import T_TOKENS, TokenStore
from adapters.writeback.state import T_DEST, T_HELD, T_HOLD, T_PARKED, PumpState
from domain import Ledger
from projections import ViewRunner
from projections.db import Database
from projections.runner import T_TRACKING
from tests.conftest import PG_DSN, Backend, pg_schema

OWN_TABLES = {T_TOKENS, T_DEST, T_PARKED, T_HELD, T_HOLD, T_TRACKING}


def _tables(backend: Backend, schema: str | None = None) -> set[str]:
    """The tables a plain client sees in the backend's file or schema."""
    if backend.name == "sqlite":
        path = backend.url[len("sqlite:///") :]
        with sqlite3.connect(path) as conn:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    schema = schema or backend.url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_DSN) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    return {r[0] for r in rows}


@pytest.fixture
def database(backend: Backend) -> Iterator[Database]:
    db = Database(backend.url)
    try:
        yield db
    finally:
        db.dispose()


def test_tokens_and_writeback_state_create_their_tables_on_first_use(
    backend: Backend, database: Database
) -> None:
    assert not _tables(backend) & OWN_TABLES
    tokens = TokenStore(backend.settings, database=database)
    assert tokens.list() == []
    assert PumpState(database).destinations() == []
    assert {T_TOKENS, T_DEST, T_PARKED, T_HELD, T_HOLD} <= _tables(backend)


def test_the_own_tables_live_beside_the_ledgers_events(backend: Backend, ledger: Ledger) -> None:
    with ViewRunner(ledger) as runner:
        runner.setup()
    store = TokenStore(backend.settings)
    try:
        store.create("alice", "operator")
    finally:
        store.close()
    tables = _tables(backend)
    events = "stored_events" if backend.name == "sqlite" else "ledger_events"
    assert {events, T_TOKENS, T_TRACKING} <= tables


def test_each_postgres_schema_keeps_its_own_tokens(backend: Backend) -> None:
    if backend.name != "postgres":
        pytest.skip("schemas are PostgreSQL only")
    with pg_schema() as other:
        first = TokenStore(backend.settings)
        second = TokenStore(Backend("postgres", f"{PG_DSN}?schema={other}").settings)
        try:
            _, secret = first.create("alice", "supervisor")
            assert second.list() == []
            assert second.authenticate(secret) is None
            assert first.authenticate(secret) is not None
            assert T_TOKENS in _tables(backend, other)
            assert T_TOKENS not in _tables(backend, "public")
        finally:
            first.close()
            second.close()


def test_a_failed_transaction_writes_no_row_and_no_position(
    backend: Backend, database: Database
) -> None:
    state = PumpState(database)
    state.ensure("erp-rest", "erp", start=5)
    db = state.db
    with pytest.raises(RuntimeError), state.transaction() as tx:
        state.advance(tx, "erp-rest", 5, 9, delivered=4)
        state.hold(tx, "erp-rest", [("k1", 6, 1, "{}")])
        raise RuntimeError("delivery failed after the rows were written")
    assert state.position("erp-rest") == 5
    assert state.held_count("erp-rest") == 0
    assert db is state.db


def test_a_second_writer_that_saw_an_old_position_backs_off(
    backend: Backend, database: Database
) -> None:
    from adapters.writeback.state import LostRaceError

    first, second = PumpState(database), PumpState(database)
    first.ensure("erp-rest", "erp", start=5)
    with first.transaction() as tx:
        first.advance(tx, "erp-rest", 5, 9, delivered=4)
    with pytest.raises(LostRaceError), second.transaction() as tx:
        second.advance(tx, "erp-rest", 5, 7, delivered=2)
    assert first.position("erp-rest") == 9
    first.close()
    second.close()


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("postgresql://u@127.0.0.1/test?schema=x;drop", "'x;drop'"),
        ("mysql://u@127.0.0.1/test", "'mysql'"),
        ("sqlite:///", "'sqlite:///'"),
    ],
)
def test_a_bad_database_url_is_refused_naming_the_value(url: str, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        Database(url)
