"""Concurrent commands on different orders share one transaction; a conflict fails no other."""

from __future__ import annotations

import threading
import time
from typing import Any

from eventsourcing.persistence import IntegrityError

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
