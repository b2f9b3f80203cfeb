"""Tryton as an inbound source against a real trytond, with the shared sync semantics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.config import Integration
from adapters.inbound import tryton_source
from adapters.inbound.sync import SourceUnavailable
from adapters.settings import Settings, build_ledger
from adapters.tryton import TrytonClient
from domain import Actor, Ledger, OrderState
from domain.commands import ReportQuantity, StartOperation
from tests.support.tryton_server import Plant, TrytonSeed, TrytonServer

pytestmark = pytest.mark.tryton
OPERATOR = Actor("op-7", "operator", "api")


@pytest.fixture
def seed(server: TrytonServer, plant: Plant) -> Iterator[TrytonSeed]:
    with server.admin_client() as c:
        yield TrytonSeed(c)


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}"))  # type: ignore[arg-type]
    try:
        yield ledger
    finally:
        ledger.close()


def integration(server: TrytonServer, monkeypatch: pytest.MonkeyPatch, **over: Any) -> Integration:
    monkeypatch.setenv("TRYTON_PASSWORD", server.password)
    data: dict[str, Any] = {
        "name": "tryton",
        "mode": "B",
        "inbound": {
            "transport": "tryton",
            "url": server.url,
            "database": server.database,
            "user": server.user,
            "password_env": "TRYTON_PASSWORD",
        },
    }
    data.update(over)
    return Integration.model_validate(data)


def test_trytons_plan_is_released_replanned_cancelled_and_survives_an_outage(
    server: TrytonServer,
    seed: TrytonSeed,
    plant: Plant,
    sqlite_ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = sqlite_ledger
    integ = integration(server, monkeypatch, maps={"work_centres": {"SAW-01": "saw-1"}})
    a = seed.released_production(plant, "P-100", 5)
    b = seed.released_production(plant, "P-100", 6)
    c = seed.released_production(plant, "P-100", 7)
    first = tryton_source.sync(integ, ledger)
    assert {a, b, c} <= set(first.released)
    assert ledger.get_order(a, "tryton").routing[0].work_centre == "saw-1"
    assert any("unknown_work_centre" in w and "MILL-02" in w for w in first.warnings)
    again = tryton_source.sync(integ, ledger)
    assert {a, b, c} <= set(again.unchanged) and not again.released and again.warnings == []

    ledger.execute(StartOperation(c, "10", integration="tryton"), OPERATOR)
    seed.reset_to_draft(seed.id_of(a))
    seed.cancel(seed.id_of(b))
    seed.cancel(seed.id_of(c))
    third = tryton_source.sync(integ, ledger)
    assert a in third.not_released and any(a in w for w in third.warnings)
    assert b in third.cancelled and c in third.conflicts
    assert ledger.get_order(b, "tryton").state == OrderState.CANCELLED
    assert ledger.get_order(c, "tryton").state == OrderState.IN_PROGRESS

    server.stop()
    try:
        with pytest.raises(SourceUnavailable, match="tryton"):
            tryton_source.sync(integ, ledger)
        ledger.execute(ReportQuantity(c, "10", good=1, integration="tryton"), OPERATOR)
    finally:
        server.start()
    d = seed.released_production(plant, "P-100", 2)
    assert d in tryton_source.sync(integ, ledger).released


def test_a_wrong_password_makes_the_source_unavailable(
    server: TrytonServer, sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    integ = integration(server, monkeypatch)
    monkeypatch.setenv("TRYTON_PASSWORD", "wrong")
    tryton_source.close_sources()  # a process starting anew (a live session is kept)
    with pytest.raises(SourceUnavailable, match="TrytonAuthError"):
        tryton_source.sync(integ, sqlite_ledger)
    assert isinstance(tryton_source.make_client(integ), TrytonClient)


def test_polls_keep_one_tryton_session_and_never_log_it_out(
    server: TrytonServer,
    seed: TrytonSeed,
    plant: Plant,
    sqlite_ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    integ = integration(server, monkeypatch)
    tryton_source.close_sources()
    tryton_source.sync(integ, sqlite_ledger)
    client = tryton_source.source_for(integ).client
    assert client is not None
    session = client._session

    tryton_source.sync(integ, sqlite_ledger)
    tryton_source.sync(integ, sqlite_ledger)

    assert tryton_source.source_for(integ).client is client
    assert client._session == session is not None
