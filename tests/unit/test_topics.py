"""Stored event topics are a contract (ADR 0011): every topic a store written by earlier code
holds must still resolve, decode, fold and verify with today's code."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from collections import defaultdict
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import TopicError, get_topic, register_topic, resolve_topic

import domain
from domain import Ledger
from domain.chain import GENESIS, recompute

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "topics" / "events.json"


def stored_events() -> list[StoredEvent]:
    """The committed fixture: rows as a store written by the code of its day holds them."""
    return [
        StoredEvent(
            originator_id=UUID(e["originator_id"]),
            originator_version=e["originator_version"],
            topic=e["topic"],
            state=e["state"].encode("utf-8"),
        )
        for e in json.loads(FIXTURE.read_text(encoding="utf-8"))
    ]


def domain_event_classes() -> set[type]:
    """Every concrete event class written in domain/ (not the bases, not library-made ones)."""
    found: set[type] = set()

    def walk(owner: Any) -> None:
        for value in vars(owner).values():
            if (
                inspect.isclass(value)
                and value.__module__.startswith("domain.")
                and value not in found
            ):
                if issubclass(value, CanMutateAggregate):
                    found.add(value)
                walk(value)

    for info in pkgutil.iter_modules(domain.__path__):
        walk(importlib.import_module(f"domain.{info.name}"))
    leaves = {c for c in found if not any(o is not c and issubclass(o, c) for o in found)}
    # eventsourcing makes a ``Created`` class for every aggregate; those written here are real.
    return {
        c
        for c in leaves
        if f"class {c.__name__}(" in inspect.getsource(importlib.import_module(c.__module__))
    }


@pytest.fixture(scope="module")
def ledger() -> Any:
    app = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


def test_every_stored_topic_still_resolves_to_an_event_class() -> None:
    unresolved = []
    for topic in sorted({e.topic for e in stored_events()}):
        try:
            cls = resolve_topic(topic)
        except Exception as exc:
            unresolved.append(f"{topic}: {exc}")
            continue
        if not (inspect.isclass(cls) and issubclass(cls, Aggregate.Event)):
            unresolved.append(f"{topic}: resolves to {cls!r}, not an event class")
    assert not unresolved


def test_every_stored_event_decodes_folds_into_its_aggregate_and_keeps_its_hash(
    ledger: Ledger,
) -> None:
    by_aggregate: dict[UUID, list[Any]] = defaultdict(list)
    for stored in stored_events():
        by_aggregate[stored.originator_id].append(ledger.mapper.to_domain_event(stored))
    assert len(by_aggregate) >= 4  # two orders, a measuring point, a command receipt
    for events in by_aggregate.values():
        aggregate, last_hash = None, GENESIS
        for event in sorted(events, key=lambda e: e.originator_version):
            aggregate = event.mutate(aggregate)
            assert recompute(last_hash, event) == event.chain_hash, get_topic(type(event))
            last_hash = event.chain_hash
        assert aggregate is not None and aggregate.version == events[-1].originator_version


def test_every_event_class_in_the_domain_is_in_the_fixture() -> None:
    stored = {e.topic for e in stored_events()}
    missing = sorted(get_topic(c) for c in domain_event_classes())
    missing = [t for t in missing if t not in stored]
    assert not missing, (
        "new event classes: add them to tests/fixtures/topics/make_store.py and run it "
        f"(ADR 0011): {missing}"
    )
    assert len(domain_event_classes()) >= 23  # the enumeration sees the real classes


def test_a_writeback_decision_stored_before_notes_decodes_with_an_empty_note_and_its_hash(
    ledger: Ledger,
) -> None:
    """#15 added ``note`` to WritebackDecided with a default (ADR 0011): the fixture's row,
    written without it, still decodes and verifies; a note written into it is detected."""
    topic = "domain.workorder:WorkOrder.WritebackDecided"
    rows = [e for e in stored_events() if e.topic == topic]
    assert rows and b'"note"' not in rows[0].state
    old = ledger.mapper.to_domain_event(rows[0])
    assert old.note == ""
    same_order = sorted(
        (e for e in stored_events() if e.originator_id == rows[0].originator_id),
        key=lambda e: e.originator_version,
    )
    prev = next(
        ledger.mapper.to_domain_event(e).chain_hash
        for e in same_order
        if e.originator_version == old.originator_version - 1
    )
    assert recompute(prev, old) == old.chain_hash
    altered = json.loads(rows[0].state)
    altered["note"] = "written in later"
    forged = ledger.mapper.to_domain_event(
        StoredEvent(
            rows[0].originator_id, rows[0].originator_version, topic, json.dumps(altered).encode()
        )
    )
    assert recompute(prev, forged) != old.chain_hash


def test_a_renamed_event_class_stays_readable_through_register_topic() -> None:
    """What ADR 0011 prescribes for a rename, shown with the library's own API."""

    class Renamed(Aggregate.Event):
        pass

    old_topic = "domain.workorder:WorkOrder.SomethingOldName"
    with pytest.raises(TopicError):
        resolve_topic(old_topic)
    register_topic(old_topic, Renamed)
    assert resolve_topic(old_topic) is Renamed


def test_an_event_class_gaining_a_field_upcasts_its_stored_version_1_state(
    ledger: Ledger,
) -> None:
    """``class_version`` + ``upcast_v1_v2`` fill a new field on events stored without it."""

    class Counted(Aggregate.Event):
        class_version = 2
        count: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["count"] = 0

    register_topic("tests.unit.test_topics:Counted", Counted)
    v1 = StoredEvent(
        originator_id=UUID(int=1),
        originator_version=1,
        topic="tests.unit.test_topics:Counted",
        state=b'{"timestamp": {"_type_": "datetime_iso", "_data_": "2026-01-05T06:00:00+00:00"}}',
    )
    event = ledger.mapper.to_domain_event(v1)
    assert event.count == 0
