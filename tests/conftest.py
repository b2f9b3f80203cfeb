"""Shared fixtures: one ``backend`` fixture parametrized over SQLite and PostgreSQL.

Tests that need a real server use it; outside CI they skip with a reason when it is down,
in CI (CI=true) they fail.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.settings import Settings, build_ledger
from domain import Ledger

PG_DSN = os.environ.get("FLOORLEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

# In-process ledgers trust any past floor time: many scenarios play fixed or days-old times
# (tests/support/floor.py). The window itself is tested with explicit settings
# (tests/unit/test_floor_times.py), and servers the tests start get the default: their
# environment drops FLOORLEDGER_* (tests/support/server.py, tests/browser, tests/faults).
BACKDATE_SETTING = "FLOORLEDGER_MAX_BACKDATE_HOURS"
os.environ.setdefault(BACKDATE_SETTING, "off")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def server_up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip (outside CI) or fail (in CI) when a real server the test needs is down."""
    if server_up(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(message + " (CI requires it)")
    pytest.skip(message)


@dataclass
class Backend:
    """A fresh, empty store: its name, its FLOORLEDGER_DATABASE_URL and settings."""

    name: str
    url: str

    @property
    def settings(self) -> Settings:
        return Settings(database_url=self.url)  # type: ignore[arg-type]

    def ledger(self) -> Ledger:
        return build_ledger(self.settings)


@contextlib.contextmanager
def pg_schema(prefix: str = "t_") -> Iterator[str]:
    """A fresh schema on the real PostgreSQL server (required: see ``require_server``),
    dropped afterwards with everything in it."""
    import psycopg

    require_server("PostgreSQL", "127.0.0.1", 5432)
    schema = prefix + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh store on SQLite and, in a second run of the test, on PostgreSQL."""
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'ledger.db'}")
    else:
        with pg_schema() as schema:
            yield Backend("postgres", f"{PG_DSN}?schema={schema}")


@pytest.fixture
def ledger(backend: Backend) -> Iterator[Ledger]:
    """A Ledger on a fresh store, closed afterwards."""
    app = backend.ledger()
    try:
        yield app
    finally:
        app.close()
