"""The events-by-actor view: an auditor's search finds every event a person recorded in a time
window, however far behind the ledger's head it lies (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from domain import Ledger
from domain.commands import PauseOperation, ReceiveErpOrder, ResumeOperation, StartOperation
from domain.values import Actor
from projections import ViewReader, ViewRunner
from tests.support.floor import ERP, OPERATOR, at, order

OLGA = Actor("olga", "operator", "cli")


@pytest.fixture
def views(ledger: Ledger) -> Iterator[tuple[ViewRunner, ViewReader]]:
    runner = ViewRunner(ledger, batch_size=500)
    reader = ViewReader(runner.store)
    try:
        yield runner, reader
    finally:
        reader.close()
        runner.close()


def test_an_actors_oldest_event_is_found_behind_many_newer_ones_and_the_window_bounds_it(
    ledger: Ledger, views: tuple[ViewRunner, ViewReader]
) -> None:
    runner, reader = views
    ledger.execute(ReceiveErpOrder(order("OLD")), ERP)
    before = datetime.now(UTC)
    ledger.execute(StartOperation("OLD", "10", at=at(1)), OLGA)
    after = datetime.now(UTC)
    # Many newer events by someone else: olga's start lies far behind the head (a search
    # that read only the newest part of the ledger would miss it).
    for i in range(40):
        ledger.execute(ReceiveErpOrder(order(f"N-{i}")), ERP)
        ledger.execute(StartOperation(f"N-{i}", "10", at=at(2)), OPERATOR)
        for k in range(5):
            ledger.execute(PauseOperation(f"N-{i}", "10", "SETUP", at=at(3 + 2 * k)), OPERATOR)
            ledger.execute(ResumeOperation(f"N-{i}", "10", at=at(4 + 2 * k)), OPERATOR)
    runner.catch_up()
    head = runner.head()
    assert head > 480

    found, more = reader.events_by_actor("olga")
    assert [(e.order_no, e.event, e.actor_role, e.source) for e in found] == [
        ("OLD", "OperationStarted", "operator", "cli")
    ]
    assert not more and found[0].position < head - 400
    assert "operation 10" in found[0].summary
    assert found[0].occurred_at == at(1)
    # the window is on the recording time: [since, until)
    assert reader.events_by_actor("olga", before, after)[0] == found
    assert reader.events_by_actor("olga", after, None)[0] == []
    assert reader.events_by_actor("olga", None, before)[0] == []
    # many matches: the newest ``limit`` are returned (oldest first) and ``more`` says so
    anna, more = reader.events_by_actor("anna", limit=30)
    assert len(anna) == 30 and more
    assert [e.position for e in anna] == sorted(e.position for e in anna)
    assert anna[-1].position == max(
        e.position for e in reader.events_by_actor("anna", limit=1000)[0]
    )
    assert len(reader.events_by_actor("anna", limit=1000)[0]) == 40 * 11
    # the view is rebuilt from the ledger like the others, with the same answer
    runner.rebuild("events")
    assert reader.events_by_actor("olga")[0] == found


def test_events_of_one_kind_come_newest_first(
    ledger: Ledger, views: tuple[ViewRunner, ViewReader]
) -> None:
    runner, reader = views
    ledger.execute(ReceiveErpOrder(order("K-1")), ERP)
    ledger.execute(StartOperation("K-1", "10", at=at(1)), OLGA)
    ledger.execute(PauseOperation("K-1", "10", "SETUP", at=at(2)), OLGA)
    ledger.execute(ResumeOperation("K-1", "10", at=at(3)), OPERATOR)
    ledger.execute(PauseOperation("K-1", "10", "BREAK", at=at(4)), OPERATOR)
    runner.catch_up()
    paused = reader.events_of_kind("OperationPaused")
    assert [e.actor_id for e in paused] == ["anna", "olga"]
    assert reader.events_of_kind("OperationPaused", limit=1)[0].actor_id == "anna"
    assert timedelta(0) <= datetime.now(UTC) - paused[0].recorded_at < timedelta(hours=1)
