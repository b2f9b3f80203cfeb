"""An unchanged re-poll is cheap and still exact: whatever another process recorded on an
order since the last poll, the next poll checks that order in full."""

from __future__ import annotations

from decimal import Decimal

from adapters.inbound.sync import apply_mapping
from domain import Ledger
from domain.commands import ReceiveErpOrder, StartOperation
from tests.conftest import Backend
from tests.integration.test_inbound_sync import OPERATOR, PLANT, WO1, WO2, plan, rows

PLAN = rows(*WO1, *WO2)


def polled_three_times(ledger: Ledger) -> None:
    for _ in range(3):
        apply_mapping(PLANT, ledger, plan(PLAN), bulk=True)


def test_polling_an_unchanged_plan_again_and_again_records_nothing(ledger: Ledger) -> None:
    polled_three_times(ledger)
    position = ledger.position()
    again = apply_mapping(PLANT, ledger, plan(PLAN), bulk=True)
    assert again.unchanged == ["WO-1", "WO-2"] and again.ok
    assert ledger.position() == position


def test_an_erp_change_pushed_through_another_process_is_undone_by_the_next_poll(
    backend: Backend,
) -> None:
    # Without the aggregate cache: a cached order does not see other processes' events
    # until it next saves (a separate matter); this is about the re-poll memory alone.
    ledger = backend.ledger()
    ledger.repository.cache = None
    try:
        poll_after_a_push(ledger, backend)
    finally:
        ledger.close()


def poll_after_a_push(ledger: Ledger, backend: Backend) -> None:
    polled_three_times(ledger)
    other = backend.ledger()  # e.g. the API process receiving an ERP push
    try:
        pushed = plan(rows(*(line.replace(",50,", ",70,") for line in WO1))).orders[0].order
        other.execute(ReceiveErpOrder(pushed, integration="plant1"), OPERATOR)
    finally:
        other.close()
    again = apply_mapping(PLANT, ledger, plan(PLAN), bulk=True)
    assert again.changed == ["WO-1"] and again.unchanged == ["WO-2"]
    assert ledger.get_order("WO-1", "plant1").quantity == Decimal(50)


def test_a_change_after_the_floor_started_the_order_still_raises_a_conflict(
    ledger: Ledger,
) -> None:
    polled_three_times(ledger)
    ledger.execute(StartOperation("WO-1", "0010", integration="plant1"), OPERATOR)
    polled_three_times(ledger)
    changed = apply_mapping(
        PLANT, ledger, plan(rows(*(line.replace(",50,", ",60,") for line in WO1), *WO2))
    )
    assert changed.conflicts == ["WO-1"] and changed.unchanged == ["WO-2"]
