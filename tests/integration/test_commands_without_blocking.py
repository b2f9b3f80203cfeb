"""Commands decided without blocking (the API's floor actions, ADR 0021), on SQLite and
PostgreSQL: the caller's thread decides a command on a cached order and the ledger's group
writer saves it; whatever the store must be asked again for (an order not cached, a refusal,
a race with another writer, an answer lost after the commit) goes back to ``execute``, and
every outcome is the one ``execute`` gives: recorded once, never lost."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest

from domain import Ledger, OperationStateError
from domain.commands import Command, ReceiveErpOrder, ReportQuantity, StartOperation
from domain.deadline import CommandDeadlineError, command_deadline
from domain.executor import CommandOutcome
from tests.conftest import Backend
from tests.factories import ERP, OPERATOR, an_erp_order
from tests.support.floor import lose_the_next_answer

Answer = CommandOutcome | BaseException | None


def submit(
    ledger: Ledger, command: Command, key: str | None = None
) -> tuple[Any, queue.Queue[Answer]]:
    """``try_execute`` as the API calls it: what it returned at once, and where the group
    writer's answer arrives."""
    answers: queue.Queue[Answer] = queue.Queue()
    return ledger.try_execute(command, OPERATOR, key, answers.put), answers


def run(ledger: Ledger, command: Command, key: str | None = None) -> CommandOutcome:
    """A command the way the API runs it: without blocking where it can, else ``execute``."""
    started, answers = submit(ledger, command, key)
    if isinstance(started, CommandOutcome):
        return started
    answer = answers.get(timeout=10) if started else None
    if isinstance(answer, BaseException):
        raise answer
    return answer if answer is not None else ledger.execute(command, OPERATOR, key)


def reported(ledger: Ledger, order_no: str = "WO-1") -> list[int]:
    return [e.version for e in ledger.history(order_no) if e.event == "QuantityReported"]


@pytest.fixture
def started_order(ledger: Ledger) -> Ledger:
    """WO-1 released and operation 10 started, through this ledger (so it has it cached)."""
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    ledger.execute(StartOperation("WO-1", "10"), OPERATOR)
    return ledger


def test_a_command_on_a_cached_order_is_decided_at_once_and_answered_by_the_writer(
    started_order: Ledger,
) -> None:
    ledger = started_order
    head = ledger.recorder.max_notification_id()

    started, answers = submit(ledger, ReportQuantity("WO-1", "10", good=3))

    assert started is True
    outcome = answers.get(timeout=10)
    assert isinstance(outcome, CommandOutcome)
    assert outcome.events == ("QuantityReported",)
    assert outcome.position == ledger.recorder.max_notification_id() == (head or 0) + 1
    assert ledger.get_order("WO-1").operations["10"].good == 3
    # the cache holds the new version: the next command is decided at once too
    assert run(ledger, ReportQuantity("WO-1", "10", good=2)).version == outcome.version + 1
    assert len(reported(ledger)) == 2


def test_commands_on_many_orders_are_saved_in_fewer_writes_than_commands(ledger: Ledger) -> None:
    orders = [f"WO-{i}" for i in range(40)]
    ledger.release_orders([an_erp_order(o) for o in orders], ERP)
    for o in orders:
        ledger.execute(StartOperation(o, "10"), OPERATOR)
    writes: list[int] = []
    real = ledger.recorder.insert_events

    def counting(events: Any, **kw: Any) -> Any:
        writes.append(len(events))
        time.sleep(0.005)  # a store that takes a moment: commands queue meanwhile
        return real(events, **kw)

    ledger.recorder.insert_events = counting  # type: ignore[method-assign]
    commands = [ReportQuantity(o, "10", good=1) for o in orders]
    pending = [submit(ledger, cmd) for cmd in commands]

    # (two orders may share a lock stripe: the second then waits its turn in ``execute``)
    outcomes = [
        answers.get(timeout=10) if started is True else ledger.execute(cmd, OPERATOR)
        for cmd, (started, answers) in zip(commands, pending, strict=True)
    ]

    assert sum(1 for started, _ in pending if started is True) > len(orders) * 3 // 4
    assert all(isinstance(o, CommandOutcome) and o.events for o in outcomes)
    positions = [o.position for o in outcomes if isinstance(o, CommandOutcome)]
    assert len(set(positions)) == len(orders)
    assert sum(len(reported(ledger, o)) for o in orders) == len(orders)
    assert len(writes) < len(orders) // 2  # queued commands share a write


def test_an_order_not_cached_is_left_to_execute(backend: Backend, started_order: Ledger) -> None:
    other = backend.ledger()  # another process: it has nothing cached
    try:
        started, _ = submit(other, ReportQuantity("WO-1", "10", good=3))
        assert started is False
        assert reported(other) == []
        assert run(other, ReportQuantity("WO-1", "10", good=3)).events == ("QuantityReported",)
        assert submit(other, ReportQuantity("WO-1", "10", good=1))[0] is True
    finally:
        other.close()


def test_an_order_another_command_is_working_on_is_left_to_execute(started_order: Ledger) -> None:
    ledger = started_order
    lock = ledger.executor._lock(ledger.order_id("WO-1"))
    with lock:
        started, _ = submit(ledger, ReportQuantity("WO-1", "10", good=3))
    assert started is False
    assert reported(ledger) == []


def test_a_refusal_is_checked_against_the_store_by_execute_and_records_nothing(
    started_order: Ledger,
) -> None:
    ledger = started_order
    head = ledger.recorder.max_notification_id()

    started, _ = submit(ledger, StartOperation("WO-1", "10"))  # already running

    assert started is False
    assert ledger.recorder.max_notification_id() == head
    with pytest.raises(OperationStateError):
        ledger.execute(StartOperation("WO-1", "10"), OPERATOR)


def test_a_race_with_another_writer_is_run_again_and_both_are_recorded_once(
    backend: Backend, started_order: Ledger
) -> None:
    ledger = started_order  # has WO-1 cached at the version before the other's write
    other = backend.ledger()
    try:
        other.execute(ReportQuantity("WO-1", "10", good=5), OPERATOR)

        started, answers = submit(ledger, ReportQuantity("WO-1", "10", good=3))

        assert started is True
        assert answers.get(timeout=10) is None  # raced: run it again with execute
        again = ledger.execute(ReportQuantity("WO-1", "10", good=3), OPERATOR)
        assert again.events == ("QuantityReported",)
        assert ledger.get_order("WO-1").operations["10"].good == 8
        assert len(reported(ledger)) == 2
    finally:
        other.close()


def test_a_write_whose_answer_was_lost_is_answered_as_its_own(started_order: Ledger) -> None:
    ledger = started_order
    fired = lose_the_next_answer(ledger)

    outcome = run(ledger, ReportQuantity("WO-1", "10", good=3))

    assert fired() and outcome.events == ("QuantityReported",) and not outcome.replayed
    assert outcome.position == ledger.recorder.max_notification_id()
    assert len(reported(ledger)) == 1


def test_a_repeated_key_is_answered_with_the_first_outcome(started_order: Ledger) -> None:
    ledger = started_order
    first = run(ledger, ReportQuantity("WO-1", "10", good=3), key="olga:k-1")

    again = run(ledger, ReportQuantity("WO-1", "10", good=3), key="olga:k-1")

    assert again.replayed and again.version == first.version
    assert again.position == first.position
    assert len(reported(ledger)) == 1
    assert ledger.get_order("WO-1").operations["10"].good == 3


def test_a_command_whose_deadline_passed_while_queued_is_not_saved(started_order: Ledger) -> None:
    ledger = started_order
    ledger.execute(ReceiveErpOrder(an_erp_order("WO-2")), ERP)
    ledger.execute(StartOperation("WO-2", "10"), OPERATOR)
    real = ledger.recorder.insert_events
    saving, release = threading.Event(), threading.Event()

    def slow(events: Any, **kwargs: Any) -> Any:
        saving.set()
        release.wait(10)  # the store is stuck on the write before
        return real(events, **kwargs)

    ledger.recorder.insert_events = slow  # type: ignore[method-assign]
    first, first_answers = submit(ledger, ReportQuantity("WO-1", "10", good=1))
    assert first is True and saving.wait(10)
    with command_deadline(0.5):
        late, late_answers = submit(ledger, ReportQuantity("WO-2", "10", good=1))
    time.sleep(0.7)
    release.set()

    assert isinstance(first_answers.get(timeout=10), CommandOutcome)
    assert late is True
    assert isinstance(late_answers.get(timeout=10), CommandDeadlineError)
    assert reported(ledger, "WO-2") == []
    # the order was not left locked or half-decided: the next command goes through
    ledger.recorder.insert_events = real  # type: ignore[method-assign]
    assert run(ledger, ReportQuantity("WO-2", "10", good=2)).events == ("QuantityReported",)
    assert ledger.get_order("WO-2").operations["10"].good == 2


def started_in_a_new_ledger(backend: Backend) -> Ledger:
    """A ledger of its own (the test closes it) with WO-1 released and operation 10 started."""
    ledger = backend.ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    ledger.execute(StartOperation("WO-1", "10"), OPERATOR)
    return ledger


def good_as_stored(backend: Backend) -> object:
    """Operation 10's good quantity as a fresh ledger reads it from the store."""
    check = backend.ledger()
    try:
        return check.get_order("WO-1").operations["10"].good
    finally:
        check.close()


def test_closing_the_ledger_saves_what_is_queued(backend: Backend) -> None:
    ledger = started_in_a_new_ledger(backend)
    started, answers = submit(ledger, ReportQuantity("WO-1", "10", good=4))
    ledger.close()

    assert started is True
    assert isinstance(answers.get(timeout=10), CommandOutcome)
    assert good_as_stored(backend) == 4


def test_a_command_after_closing_is_refused_and_leaves_the_order_as_stored(
    backend: Backend,
) -> None:
    ledger = started_in_a_new_ledger(backend)
    ledger.close()

    with pytest.raises(RuntimeError, match="closed"):
        submit(ledger, ReportQuantity("WO-1", "10", good=4))

    assert ledger.cached_order("WO-1") is None  # not left half-decided in the cache
    assert good_as_stored(backend) == 0
