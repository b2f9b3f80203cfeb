"""A store written by earlier code (the ADR 0011 fixture) reads, verifies and replays with
today's code, on SQLite and on PostgreSQL."""

from __future__ import annotations

from domain import Ledger
from tests.unit.test_topics import stored_events


def test_a_store_written_by_earlier_code_verifies_and_shows_every_order(ledger: Ledger) -> None:
    events = stored_events()
    ledger.recorder.insert_events(events)
    report = ledger.verify()
    assert report.ok, report.findings
    assert report.events == len(events)
    order = ledger.get_order("FIX-1", integration="demo")
    assert order.state.value == "completed"
    history = ledger.history("FIX-1", integration="demo")
    assert [e.version for e in history] == list(range(1, len(history) + 1))
    assert ledger.get_order("FIX-2", integration="demo").state.value == "cancelled"
    assert ledger.get_workstation("SAW-1") is not None
