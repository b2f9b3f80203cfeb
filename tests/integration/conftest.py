"""Integration fixtures shared across modules: one real Tryton server for the whole run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.tryton_server import Plant, TrytonSeed, TrytonServer, tryton_server_session
from tests.support.writeback_receiver import Receiver


@pytest.fixture(scope="session")
def tryton_server() -> Iterator[TrytonServer]:
    """A running Tryton server on a throwaway database for the whole test session."""
    yield from tryton_server_session()


@pytest.fixture
def server(tryton_server: TrytonServer) -> TrytonServer:
    """The session's server, started again if a test left it stopped."""
    if not tryton_server.running:
        tryton_server.start()
    return tryton_server


@pytest.fixture(scope="session")
def plant(tryton_server: TrytonServer) -> Plant:
    """The company, products, work centres and routings, seeded once per session."""
    if not tryton_server.running:
        tryton_server.start()
    with tryton_server.admin_client() as c:
        return TrytonSeed(c).plant()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A recording HTTP receiver standing in for the ERP's writeback endpoint."""
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()
