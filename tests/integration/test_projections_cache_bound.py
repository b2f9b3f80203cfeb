"""A view keeps a bounded number of orders in memory and still folds every order right."""

from __future__ import annotations

from decimal import Decimal

from domain import Ledger
from domain.commands import ReceiveErpOrder, ReportQuantity, StartOperation
from projections import ViewRunner
from projections.base import OrderView
from tests.support.floor import ERP, OPERATOR, at, dump, order

ORDERS = [f"C-{i}" for i in range(12)]


def a_shift_over_many_orders(ledger: Ledger) -> None:
    for no in ORDERS:
        ledger.execute(ReceiveErpOrder(order(no)), ERP)
    for n, no in enumerate(ORDERS * 3):  # each order comes back after the others
        if n < len(ORDERS):
            ledger.execute(StartOperation(no, "10", at=at(n)), OPERATOR)
        ledger.execute(ReportQuantity(no, "10", good=Decimal(n % 4 + 1), at=at(n + 1)), OPERATOR)


def test_a_view_rebuilt_with_room_for_one_order_gives_the_same_rows_as_with_room_for_all(
    ledger: Ledger,
) -> None:
    a_shift_over_many_orders(ledger)
    runner = ViewRunner(ledger, batch_size=5)
    db = None
    try:
        order_views = [v for v in runner.views.values() if isinstance(v, OrderView)]
        assert order_views
        for view in order_views:
            view.cache_size = 1_000_000  # no bound
        runner.catch_up()
        db = runner.store.connect()
        unbounded = {name: dump(db, v.tables) for name, v in runner.views.items()}
        for view in order_views:
            view.cache_size = 1
        for name in runner.views:
            runner.rebuild(name)
        assert all(len(v._cache) <= 1 for v in order_views)
        bounded = {name: dump(db, v.tables) for name, v in runner.views.items()}
    finally:
        if db is not None:
            db.close()
        runner.close()
    assert bounded == unbounded
    assert any(rows for rows in unbounded.values())
