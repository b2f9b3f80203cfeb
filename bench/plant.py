"""Orders the benchmarks generate: one shape of works order, numbered, so that every bench
measures the same plan (two operations over seven work centres, due dates over 60 days)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from domain import ErpOperation, ErpOrder


def bench_order(i: int, prefix: str = "B") -> ErpOrder:
    """The ``i``-th order of a benchmark plan, numbered ``<prefix><i:07d>``."""
    return ErpOrder(
        order_no=f"{prefix}{i:07d}",
        part_no=f"P{i % 97}",
        quantity=Decimal(100),
        unit="pcs",
        due_date=(datetime(2030, 1, 1) + timedelta(days=i % 60)).date(),
        priority=i % 5,
        work_centre="FAB",
        routing=(
            ErpOperation("10", "cut", f"WC-{i % 7}", Decimal(10), Decimal("0.5")),
            ErpOperation("20", "bend", f"WC-{(i + 3) % 7}", Decimal(5), Decimal("0.2")),
        ),
    )
