"""The views keep a bounded number of order states in memory and still fold every order right."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain import Ledger
from domain.commands import ReceiveErpOrder, ReportQuantity, StartOperation
from projections import ViewRunner
from projections.base import OrderCache, OrderView
from tests.support.floor import ERP, OPERATOR, at, dump, order

ORDERS = [f"C-{i}" for i in range(100)]


def a_shift_over_many_orders(ledger: Ledger) -> None:
    for no in ORDERS:
        ledger.execute(ReceiveErpOrder(order(no)), ERP)
    for n, no in enumerate(ORDERS * 2):  # each order comes back after the 99 others
        if n < len(ORDERS):
            ledger.execute(StartOperation(no, "10", at=at(n)), OPERATOR)
        ledger.execute(ReportQuantity(no, "10", good=Decimal(n % 4 + 1), at=at(n + 1)), OPERATOR)


def rebuilt_views(ledger: Ledger, cache_orders: int) -> tuple[dict[str, Any], OrderCache]:
    """Every view rebuilt from position 0 by a runner with room for ``cache_orders`` states."""
    runner = ViewRunner(ledger, batch_size=7, cache_orders=cache_orders)
    db = None
    try:
        assert any(isinstance(v, OrderView) for v in runner.views.values())
        runner.setup()
        for name in runner.views:
            runner.rebuild(name)
        db = runner.store.connect()
        return {name: dump(db, v.tables) for name, v in runner.views.items()}, runner.cache
    finally:
        if db is not None:
            db.close()
        runner.close()


def test_a_rebuild_with_room_for_ten_orders_gives_the_views_of_one_with_room_for_all(
    ledger: Ledger,
) -> None:
    a_shift_over_many_orders(ledger)
    unbounded, big = rebuilt_views(ledger, cache_orders=1_000_000)
    bounded, small = rebuilt_views(ledger, cache_orders=10)
    assert bounded == unbounded
    assert unbounded["status"]  # the views hold the 100 orders
    assert big.peak >= len(ORDERS)  # the unbounded cache did keep them all
    assert small.peak == 10 and len(small) <= 10  # never more than ten, all views together


def test_a_runner_without_an_order_cache_reads_every_state_from_the_views_tables(
    ledger: Ledger,
) -> None:
    a_shift_over_many_orders(ledger)
    unbounded, _ = rebuilt_views(ledger, cache_orders=1_000_000)
    uncached, none = rebuilt_views(ledger, cache_orders=0)
    assert uncached == unbounded
    assert none.peak == 0


def test_a_view_rebuilt_elsewhere_is_forgotten_from_the_shared_cache_and_the_others_kept(
    ledger: Ledger,
) -> None:
    a_shift_over_many_orders(ledger)
    runner = ViewRunner(ledger, batch_size=50, cache_orders=1_000)
    try:
        runner.catch_up()
        assert runner.cache.held("status") == runner.cache.held("plan") == len(ORDERS)
        runner.views["status"].reset()
        assert runner.cache.held("status") == 0
        assert runner.cache.held("plan") == len(ORDERS)
    finally:
        runner.close()


@pytest.mark.parametrize("limit", [-1, 2.5, True])
def test_an_order_cache_limit_that_is_not_a_whole_number_of_orders_is_refused(
    limit: Any,
) -> None:
    with pytest.raises(ValueError, match=f"order cache limit must be .* got {limit!r}"):
        OrderCache(limit)
