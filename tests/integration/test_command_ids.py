"""A write whose commit landed but whose answer was lost (#11 items 1 and 9), and the in-flight
deadline (item 2), on SQLite and PostgreSQL.

The fault is the one PostgreSQL produces when the connection dies after the commit: the store
library tries the same insert again and meets its own rows (IntegrityError). It is injected
here by making the recorder insert a write twice, once."""

from __future__ import annotations

import threading

import pytest

from domain import Ledger, OperationStateError
from domain.commands import Command, ReceiveErpOrder, ReportQuantity, StartOperation
from domain.deadline import CommandDeadlineError, command_deadline
from tests.factories import ERP, OPERATOR, an_erp_order
from tests.support.floor import lose_the_next_answer


def events_named(ledger: Ledger, name: str) -> int:
    return sum(1 for e in ledger.history("WO-1") if e.event == name)


@pytest.mark.parametrize(
    ("command", "event"),
    [
        (ReportQuantity("WO-1", "10", good=3), "QuantityReported"),
        (StartOperation("WO-1", "10"), "OperationStarted"),
    ],
    ids=["report", "start"],
)
@pytest.mark.parametrize("key", [None, "olga:k-1"], ids=["unkeyed", "keyed"])
def test_a_write_whose_answer_was_lost_is_recorded_once_and_answered_as_its_own(
    ledger: Ledger, command: Command, event: str, key: str | None
) -> None:
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    fired = lose_the_next_answer(ledger)

    outcome = ledger.execute(command, OPERATOR, key=key)

    assert fired()
    assert outcome.events == (event,)
    assert not outcome.replayed
    assert events_named(ledger, event) == 1
    assert outcome.position == ledger.position()  # the write's own position, nothing after it
    assert ledger.verify().ok


def test_a_replay_answers_with_the_first_writes_position_not_the_ledgers_head(
    ledger: Ledger,
) -> None:
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    first = ledger.execute(ReportQuantity("WO-1", "10", good=2), OPERATOR, key="olga:q-1")
    for good in (1, 1, 1):
        ledger.execute(ReportQuantity("WO-1", "10", good=good), OPERATOR)
    assert ledger.position() > (first.position or 0)

    again = ledger.execute(ReportQuantity("WO-1", "10", good=2), OPERATOR, key="olga:q-1")

    assert again.replayed
    assert again.position == first.position
    assert ledger.replay(ReportQuantity("WO-1", "10", good=2), "olga:q-1") == again


def test_a_command_waiting_for_its_order_past_the_deadline_is_refused_as_store_unavailable(
    ledger: Ledger,
) -> None:
    """A command stuck on the order (here: its lock held) does not hold the next one past
    the deadline; the next one records nothing."""
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    position = ledger.position()
    lock = ledger.executor._lock(ledger.order_id("WO-1"))
    lock.acquire()
    try:
        failed: list[BaseException] = []

        def run() -> None:
            with command_deadline(0.3):
                try:
                    ledger.execute(ReportQuantity("WO-1", "10", good=1), OPERATOR)
                except BaseException as exc:
                    failed.append(exc)

        waiter = threading.Thread(target=run)
        waiter.start()
        waiter.join(10)
        assert not waiter.is_alive()
    finally:
        lock.release()
    assert len(failed) == 1 and isinstance(failed[0], CommandDeadlineError), failed
    assert "0.3 s deadline" in str(failed[0])
    assert ledger.position() == position
    # and without a deadline the same command simply waits its turn and is recorded
    ledger.execute(ReportQuantity("WO-1", "10", good=1), OPERATOR)
    assert events_named(ledger, "QuantityReported") == 1


def test_a_refusal_is_still_a_refusal_when_the_answer_was_not_lost(ledger: Ledger) -> None:
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    ledger.execute(StartOperation("WO-1", "10"), OPERATOR)
    with pytest.raises(OperationStateError):
        ledger.execute(StartOperation("WO-1", "10"), OPERATOR)
