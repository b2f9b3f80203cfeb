"""Concurrent commands on different orders share one transaction; a conflict fails no other."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from domain.deadline import CommandDeadlineError, command_deadline
from domain.executor import GroupCommit


class SlowStore:
    """A stand-in for Application.save that records each call and can refuse one item."""

    def __init__(self, refuse: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.refuse = refuse
        self.lock = threading.Lock()

    def save(self, *items: Any) -> list[Any]:
        time.sleep(0.02)  # like a commit: others queue up meanwhile
        with self.lock:
            self.calls.append(list(items))
        if self.refuse in items:
            raise IntegrityError("duplicate")
        return [f"rec:{i}" for i in items]


def run_concurrently(group: GroupCommit, items: list[list[str]]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    barrier = threading.Barrier(len(items))

    def one(batch: list[str]) -> None:
        barrier.wait()
        try:
            results[batch[0]] = group.save(batch)
        except Exception as exc:
            results[batch[0]] = exc

    threads = [threading.Thread(target=one, args=(b,)) for b in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_commands_are_saved_in_fewer_transactions_each_getting_its_recordings() -> None:
    store = SlowStore()
    group = GroupCommit(store.save)
    items = [[f"o{i}-a", f"o{i}-b"] for i in range(20)]
    results = run_concurrently(group, items)
    assert len(store.calls) < 20
    assert sum(len(c) for c in store.calls) == 40
    for batch in items:
        assert results[batch[0]] == [f"rec:{x}" for x in batch]


def test_one_conflicting_command_fails_alone_and_the_others_are_saved() -> None:
    store = SlowStore(refuse="o3-a")
    group = GroupCommit(store.save)
    items = [[f"o{i}-a"] for i in range(10)]
    results = run_concurrently(group, items)
    assert isinstance(results["o3-a"], IntegrityError)
    assert all(results[f"o{i}-a"] == [f"rec:o{i}-a"] for i in range(10) if i != 3)


def test_a_lone_command_is_saved_directly() -> None:
    store = SlowStore()
    assert GroupCommit(store.save).save(["x"]) == ["rec:x"]
    assert store.calls == [["x"]]


class DownStore(SlowStore):
    """The store has become unreachable: every save fails like a lost connection."""

    def save(self, *items: Any) -> list[Any]:
        super().save()
        raise OperationalError("connection refused")


def test_a_group_failing_because_the_store_is_unreachable_is_not_saved_again_member_by_member() -> (
    None
):
    """Each member trying alone would wait out the store's timeouts once more (#11 item 2)."""
    store = DownStore()
    group = GroupCommit(store.save)
    items = [[f"o{i}-a"] for i in range(10)]
    results = run_concurrently(group, items)
    assert all(isinstance(results[f"o{i}-a"], OperationalError) for i in range(10))
    assert len(store.calls) < 10  # one try per group, not one more per member


def test_a_command_queued_past_its_deadline_leaves_the_queue_unsaved() -> None:
    release = threading.Event()
    saved: list[list[str]] = []

    def stuck_save(*items: Any) -> list[Any]:
        saved.append(list(items))
        release.wait(10)  # the first group's save hangs (the store stopped answering)
        return [f"rec:{i}" for i in items]

    group = GroupCommit(stuck_save)
    first = threading.Thread(target=group.save, args=(["first"],))
    first.start()
    while not saved:
        time.sleep(0.005)
    with command_deadline(0.2), pytest.raises(CommandDeadlineError, match="waiting to be saved"):
        group.save(["late"])
    release.set()
    first.join(10)
    assert saved == [["first"]]  # the late command was never saved
