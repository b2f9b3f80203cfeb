"""Ledger write throughput against the eventsourcing library's own save, in one run.

    python bench/ledger_write.py [--commands 3000] [--orders 10000] [--pg postgresql://...]

Measures on SQLite and on PostgreSQL:
  * baseline: the library saving a bare one-event aggregate per transaction;
  * floor commands per second through Ledger.execute (ReportQuantity on released orders);
  * bulk release of ORDERS orders with 5 operations each, saved in batches (events/s).
Prints the ratio floor commands / baseline (goal >= 0.7).
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


def ledger_commands(settings: Settings, n: int, orders: int = 50) -> float:
    ledger = build_ledger(settings)
    try:
        ledger.release_orders((an_order(i) for i in range(orders)), ERP)
        start = time.perf_counter()
        for k in range(n):
            ledger.execute(ReportQuantity(f"B-{k % orders:06d}", "10", good=1), OPERATOR)
        return n / (time.perf_counter() - start)
    finally:
        ledger.close()


def bulk_release(settings: Settings, n: int) -> float:
    ledger = build_ledger(settings)
    try:
        start = time.perf_counter()
        written = ledger.release_orders((an_order(100_000 + i) for i in range(n)), ERP)
        elapsed = time.perf_counter() - start
        assert written == n
        return written / elapsed
    finally:
        ledger.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--commands", type=int, default=3000)
    p.add_argument("--orders", type=int, default=10_000)
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = p.parse_args()

    rows: list[tuple[str, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}")  # type: ignore[arg-type]
        env = store_env(sqlite)
        base = baseline_saves(env, args.commands)
        cmds = ledger_commands(sqlite, args.commands)
        bulk = bulk_release(sqlite, args.orders)
        rows.append(("SQLite", base, cmds, bulk))

    schema = "bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        pg = Settings(database_url=f"{args.pg}?schema={schema}")  # type: ignore[arg-type]
        env = store_env(pg)
        base = baseline_saves(env, args.commands)
        cmds = ledger_commands(pg, args.commands)
        bulk = bulk_release(pg, args.orders)
        rows.append(("PostgreSQL", base, cmds, bulk))
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    print(f"{args.commands} commands, bulk release of {args.orders} orders x 5 operations")
    print(
        f"{'store':<11} {'library save/s':>15} {'Ledger cmd/s':>13} {'ratio':>6} "
        f"{'bulk release events/s':>22}"
    )
    for name, base, cmds, bulk in rows:
        print(f"{name:<11} {base:>15.0f} {cmds:>13.0f} {cmds / base:>6.2f} {bulk:>22.0f}")


if __name__ == "__main__":
    main()
