"""Writeback throughput: drain a backlog of floor events to a REST batch endpoint and to a
PostgreSQL interface table.

    python bench/writeback.py [--events 100000] [--batch 500] [--rounds 3] [--pg postgresql://...]

The backlog is recorded first (not timed): orders worked on the floor, about 50 floor events
each, in a SQLite ledger. Each destination then drains the whole backlog from position 0
(timed: events/s), alternated in ``--rounds`` rounds (bench/method.py) with the named
baseline: reading and decoding the same backlog alone. Goal: >= 10,000 events/s batched.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.settings import Settings, build_ledger
from adapters.writeback.pump import Pump
from bench.method import Machine, alternate, rounds_argument
from domain import Actor, ErpOperation, ErpOrder, Ledger, WorkOrder
from domain.floortime import FloorTimes
from tests.support.writeback import config
from tests.support.writeback_receiver import Receiver

ERP = Actor("erp-sync", "integration", "erp:erp")
OPERATOR = Actor("anna", "operator", "api")
# the floor work is a recorded history, days back: no window of floor times
HISTORY = FloorTimes(max_backdate=None)
T0 = datetime.now(UTC) - timedelta(days=30)


def record_backlog(ledger: Ledger, events: int) -> int:
    """Orders worked on the floor until ``events`` floor events exist; returns their count."""
    made, n = 0, 0
    batch: list[WorkOrder] = []
    while made < events:
        order = ErpOrder(
            order_no=f"B-{n:06d}",
            part_no="P-1",
            quantity=Decimal(1000),
            unit="pcs",
            work_centre="FAB",
            routing=(
                ErpOperation("10", "Turn", "LATHE-1", Decimal(10), Decimal(2)),
                ErpOperation("20", "Grind", "GRIND-1", Decimal(5), Decimal(1)),
            ),
        )
        o = WorkOrder.release("erp", order, ERP)
        t = T0 + timedelta(hours=n % 500)
        for op in ("10", "20"):
            o.start_operation(op, OPERATOR, t, times=HISTORY)
            for i in range(6):
                t += timedelta(minutes=3)
                o.report_quantity(
                    op, OPERATOR, good=5, scrap=1, scrap_reason="burr", at=t, times=HISTORY
                )
                t += timedelta(minutes=1)
                o.pause_operation(op, "tooling", OPERATOR, at=t, times=HISTORY)
                t += timedelta(minutes=1)
                o.resume_operation(op, OPERATOR, at=t, times=HISTORY)
                o.record_result(
                    op, OPERATOR, passed=i % 5 != 0, serial=f"S{n}-{op}-{i}", at=t, times=HISTORY
                )
            t += timedelta(minutes=1)
            o.complete_operation(op, OPERATOR, at=t, times=HISTORY)
        o.complete_order(OPERATOR, at=t, times=HISTORY)
        made += sum(
            1 for e in o.pending_events if type(e).__name__ not in ("Released", "WarningRaised")
        )
        batch.append(o)
        n += 1
        if len(batch) >= 50:
            ledger.save(*batch)
            batch = []
    if batch:
        ledger.save(*batch)
    return made


def drain(ledger: Ledger, tmp: Path, dest: dict[str, object], scan: int) -> tuple[int, float]:
    cfg = config(tmp, [dest], scan_size=scan)
    pump = Pump(ledger, cfg)
    try:
        started = time.perf_counter()
        result = pump.run_once(raise_errors=True)
        seconds = time.perf_counter() - started
        delivered = pump.state.get(str(dest["name"]))
        assert delivered is not None, result
        return delivered.delivered, seconds
    finally:
        pump.close()


def _receiver(where: str) -> tuple[Receiver, subprocess.Popen[bytes] | None]:
    if where == "inprocess":
        return Receiver().start(), None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.writeback_receiver", "--port", str(port)],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return Receiver(port), proc


def _applied(receiver: Receiver) -> int:
    if receiver._server is not None:  # in this process
        return len(receiver.applied)
    counts = httpx.get(f"http://127.0.0.1:{receiver.port}/", timeout=5).json()
    assert counts["duplicates"] == 0 and counts["out_of_order"] == 0, counts
    return int(counts["applied"])


def read_backlog(ledger: Ledger, scan: int) -> float:
    """The baseline: read and decode every stored event (what any delivery must do), /s."""
    started = time.perf_counter()
    n, at = 0, 1
    while True:
        page = ledger.recorder.select_notifications(at, scan)
        if not page:
            break
        for notification in page:
            ledger.mapper.to_domain_event(notification)
        n += len(page)
        at = int(page[-1].id) + 1
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--scan", type=int, default=5000)
    parser.add_argument(
        "--pg",
        default=os.environ.get("FLOORLEDGER_TEST_PG", "postgresql://postgres@127.0.0.1/test"),
    )
    parser.add_argument("--skip", default="", help="comma-separated: rest,sql")
    parser.add_argument("--receiver", choices=["process", "inprocess"], default="process")
    rounds_argument(parser)
    args = parser.parse_args()
    machine = Machine.now()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ledger = build_ledger(Settings(database_url=f"sqlite:///{tmp / 'ledger.db'}"))  # type: ignore[arg-type]
        started = time.perf_counter()
        made = record_backlog(ledger, args.events)
        print(f"backlog: {made} floor events recorded in {time.perf_counter() - started:.1f}s")
        baseline = "reading and decoding the backlog alone"
        rounds = iter(range(1_000_000))
        if "rest" not in skip:

            def rest() -> float:
                # A fresh receiver per round (it checks each order's sequence), in its own
                # process like a real ERP (--receiver inprocess: in this one, competing with
                # the pump for the interpreter).
                receiver, proc = _receiver(args.receiver)
                try:
                    dest = {
                        "name": f"bench-rest-{next(rounds)}",
                        "transport": "rest",
                        "url": receiver.url,
                        "batch_url": receiver.batch_url,
                        "batch_size": args.batch,
                    }
                    n, s = drain(ledger, tmp, dest, args.scan)
                    applied = _applied(receiver)
                    assert applied == n == made, (applied, n, made)
                    return n / s
                finally:
                    if proc is not None:
                        proc.kill()
                        proc.wait()
                    else:
                        receiver.stop()

            c = alternate(f"REST batch ({args.batch}/request, receiver {args.receiver})",
                          baseline, lambda: read_backlog(ledger, args.scan), rest,
                          rounds=args.rounds, unit="events/s")  # fmt: skip
            print(c.report() + "   (goal >= 10,000 events/s)")
        if "sql" not in skip:
            url = args.pg.replace("postgresql://", "postgresql+psycopg://")
            os.environ["WB_BENCH_SQL_URL"] = url
            engine = sa.create_engine(url)
            tables: list[str] = []

            def sql() -> float:
                table = "wb_bench_" + uuid.uuid4().hex[:8]
                tables.append(table)
                dest = {
                    "name": f"bench-sql-{next(rounds)}",
                    "transport": "sql",
                    "url_env": "WB_BENCH_SQL_URL",
                    "table": table,
                    "batch_size": args.batch,
                }
                n, s = drain(ledger, tmp, dest, args.scan)
                with engine.connect() as conn:
                    rows = conn.scalar(sa.text(f"SELECT COUNT(*) FROM {table}"))
                assert rows == n == made, (rows, n, made)
                return n / s

            try:
                c = alternate(f"PostgreSQL table ({args.batch}/insert)", baseline,
                              lambda: read_backlog(ledger, args.scan), sql,
                              rounds=args.rounds, unit="events/s")  # fmt: skip
                print(c.report() + "   (goal >= 10,000 events/s)")
            finally:
                with engine.begin() as conn:
                    for table in tables:
                        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
                engine.dispose()
        ledger.close()
    print(machine.report())


if __name__ == "__main__":
    main()
