"""Random order histories through real stores and the real ViewRunner: every view and the
writeback messages agree with the state the WorkOrder aggregate holds (SQLite and PostgreSQL)."""

from __future__ import annotations

from hypothesis import settings
from hypothesis.stateful import invariant, run_state_machine_as_test

from domain import Ledger
from projections import ViewReader, ViewRunner
from tests.support.order_machine import OrderHistoryMachine, assert_views_match_aggregate


def test_every_view_and_the_writeback_agree_with_the_aggregate_on_random_histories(
    ledger: Ledger,
) -> None:
    runner = ViewRunner(ledger, batch_size=5)
    reader = ViewReader(runner.store)

    class StoredOrderHistory(OrderHistoryMachine):
        def __init__(self) -> None:
            super().__init__(ledger)

        @invariant()
        def every_view_agrees_with_the_aggregate(self) -> None:
            runner.catch_up()
            assert_views_match_aggregate(ledger, reader, self.order_no, self.integration)

    try:
        run_state_machine_as_test(
            StoredOrderHistory,
            settings=settings(max_examples=10, stateful_step_count=15, deadline=None),
        )
    finally:
        reader.close()
        runner.close()
