"""Ledger write throughput against the eventsourcing library's own save, in one run.

    python bench/ledger_write.py [--commands 3000] [--orders 10000] [--rounds 3]
                                 [--backends sqlite,postgres] [--pg postgresql://...]

Measures on SQLite and on PostgreSQL:
  * baseline: the library saving a bare one-event aggregate per transaction;
  * floor commands per second through Ledger.execute (ReportQuantity on released orders);
  * bulk release of ORDERS orders with 5 operations each, saved in batches (events/s).
Each against a named baseline, alternated in rounds (bench/method.py): commands against the
library saving a bare aggregate (goal >= 0.7); bulk release against the library saving
order-sized one-event aggregates 500 per transaction (goal >= 10,000 events/s on PostgreSQL).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.settings import Settings, build_ledger, store_env
from bench.method import Machine, alternate, rounds_argument
from domain import Actor, ErpOperation, ErpOrder
from domain.commands import ReportQuantity

ERP = Actor("bench", "integration", "erp:erp")
OPERATOR = Actor("bench-op", "operator", "api")


class Bare(Aggregate):
    """A bare aggregate: one created event."""


class Baseline(Application):  # type: ignore[type-arg]
    name = "Baseline"


def an_order(i: int) -> ErpOrder:
    return ErpOrder(
        order_no=f"B-{i:06d}",
        part_no=f"P-{i % 97}",
        quantity=Decimal(100),
        unit="pcs",
        description="bench order",
        priority=i % 5,
        work_centre="WC",
        routing=tuple(
            ErpOperation(str(10 * (k + 1)), f"op {k}", f"WC-{k}", Decimal(5), Decimal("0.5"))
            for k in range(5)
        ),
    )


def baseline_saves(env: dict[str, str], n: int) -> float:
    app = Baseline(env=env)
    try:
        start = time.perf_counter()
        for _ in range(n):
            app.save(Bare())
        return n / (time.perf_counter() - start)
    finally:
        app.close()


class Released(Aggregate):
    """A bare aggregate created with a payload the size of a released order's."""

    def __init__(self, payload: dict[str, object]) -> None:
        self.payload = payload


def baseline_bulk(env: dict[str, str], n: int, batch: int = 500) -> float:
    """The library saving ``n`` one-event aggregates (order-sized payload), ``batch`` per
    transaction: what a bulk release costs without floorledger's checks and hash chain."""
    app = Baseline(env=env)
    try:
        payload = an_order(0).checked().erp_fields()
        start = time.perf_counter()
        for k in range(0, n, batch):
            app.save(*(Released(dict(payload)) for _ in range(min(batch, n - k))))
        return n / (time.perf_counter() - start)
    finally:
        app.close()


class Orders:
    """Released orders the commands rotate over (released once, outside the timing)."""

    def __init__(self, settings: Settings, orders: int = 50) -> None:
        self.settings, self.orders, self.next = settings, orders, 0
        ledger = build_ledger(settings)
        ledger.release_orders((an_order(i) for i in range(orders)), ERP)
        ledger.close()

    def commands(self, n: int) -> float:
        ledger = build_ledger(self.settings)
        try:
            start = time.perf_counter()
            for _ in range(n):
                k = self.next = self.next + 1
                ledger.execute(ReportQuantity(f"B-{k % self.orders:06d}", "10", good=1), OPERATOR)
            return n / (time.perf_counter() - start)
        finally:
            ledger.close()


class Bulk:
    def __init__(self, settings: Settings, n: int) -> None:
        self.settings, self.n, self.first = settings, n, 100_000

    def release(self) -> float:
        ledger = build_ledger(self.settings)
        try:
            first, self.first = self.first, self.first + self.n
            orders = [an_order(first + i) for i in range(self.n)]
            start = time.perf_counter()
            written = ledger.release_orders(orders, ERP)
            elapsed = time.perf_counter() - start
            assert written == self.n
            return written / elapsed
        finally:
            ledger.close()


def compare(name: str, settings: Settings, args: argparse.Namespace) -> None:
    env = store_env(settings)
    print(f"{name}:")
    orders = Orders(settings)
    c = alternate("Ledger.execute(ReportQuantity)", "library save of a bare aggregate",
                  lambda: baseline_saves(env, args.commands),
                  lambda: orders.commands(args.commands),
                  rounds=args.rounds, unit="commands/s")  # fmt: skip
    print(c.report() + "   (goal >= 0.7)")
    bulk = Bulk(settings, args.orders)
    c = alternate("Ledger.release_orders", "library bulk save, 500 per transaction",
                  lambda: baseline_bulk(env, args.orders), bulk.release,
                  rounds=args.rounds, unit="events/s")  # fmt: skip
    print(c.report() + "   (goal >= 10,000 events/s on PostgreSQL)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--commands", type=int, default=3000)
    p.add_argument("--orders", type=int, default=10_000)
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--backends", default="sqlite,postgres")
    rounds_argument(p)
    args = p.parse_args()
    machine = Machine.now()
    print(f"{args.commands} commands, bulk release of {args.orders} orders x 5 operations, "
          f"{args.rounds} alternated rounds")  # fmt: skip
    if "sqlite" in args.backends:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            compare("SQLite", Settings(database_url=url), args)  # type: ignore[arg-type]
    if "postgres" in args.backends:
        schema = "bench_" + uuid.uuid4().hex[:8]
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        try:
            pg = Settings(database_url=f"{args.pg}?schema={schema}")  # type: ignore[arg-type]
            compare("PostgreSQL", pg, args)
        finally:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    print(machine.report())


if __name__ == "__main__":
    main()
