"""Crash safety and liveness of the runner: SIGKILL mid-batch, and a killed LISTEN connection."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from domain import Ledger
from domain.commands import ReceiveErpOrder, ReportQuantity, StartOperation
from projections import StatusView, ViewReader, ViewRunner
from tests.conftest import PG_DSN, Backend
from tests.support.floor import ERP, OPERATOR, at, order

ROOT = Path(__file__).resolve().parents[2]


def _record(ledger: Ledger, first: int, count: int) -> Decimal:
    """Release ``count`` orders and report on each; returns the good quantity reported."""
    total = Decimal(0)
    for i in range(first, first + count):
        no = f"K{i}"
        ledger.execute(ReceiveErpOrder(order(no, quantity=1000)), ERP)
        ledger.execute(StartOperation(no, "10", at=at(i % 500)), OPERATOR)
        for g in (3, 4):
            ledger.execute(
                ReportQuantity(no, "10", good=g, scrap=1, scrap_reason="BURR", at=at(i % 500 + 1)),
                OPERATOR,
            )
            total += g
    return total


def _spawn(url: str, batch: int, delay: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.projection_runner", url, str(batch), str(delay)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _wait_for_line(proc: subprocess.Popen[str], prefix: str, count: int = 1) -> None:
    seen = 0
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"runner exited early with {proc.poll()}")
        if line.startswith(prefix):
            seen += 1
            if seen >= count:
                return
    raise AssertionError(f"no {prefix!r} line from the runner")


def test_a_runner_killed_mid_batch_and_restarted_neither_double_counts_nor_misses(
    backend: Backend, ledger: Ledger
) -> None:
    expected = _record(ledger, 0, 60)
    proc = _spawn(backend.url, 7, 0.3)
    try:
        _wait_for_line(proc, "batch", count=3)  # the third batch is written, not committed
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    expected += _record(ledger, 60, 15)  # more events while no runner is up

    runner = ViewRunner(ledger, [StatusView()], batch_size=7)
    position = runner.positions()["status"]
    assert 0 < position < ledger.position()  # it had committed some batches, not all
    proc = _spawn(backend.url, 7, 0.0)
    try:
        _wait_for_line(proc, "ready")
        deadline = time.monotonic() + 60
        while runner.positions()["status"] < ledger.position():
            assert time.monotonic() < deadline, "the restarted runner did not catch up"
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)

    reader = ViewReader(runner.store)
    try:
        orders = reader.orders(limit=1000)
        assert len(orders) == 75
        assert sum((o.good for o in orders), Decimal(0)) == expected
        assert sum((o.scrap for o in orders), Decimal(0)) == 75 * 2
        for o in orders:
            s = reader.status(o.order_no, "erp")
            assert s is not None and s.version == ledger.get_order(o.order_no).version
    finally:
        reader.close()
        runner.close()


def test_the_view_catches_up_after_its_listening_connection_is_terminated(
    backend: Backend, ledger: Ledger
) -> None:
    if backend.name != "postgres":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL only")
    import psycopg

    runner = ViewRunner(ledger, watchdog_interval=0.5)
    runner.start()
    try:
        first = ledger.execute(ReceiveErpOrder(order("L1")), ERP)
        assert first.position is not None and runner.wait_until(first.position, timeout=10)
        deadline = time.monotonic() + 5
        while runner.listener_pid is None:
            assert time.monotonic() < deadline, "the runner never listened"
            time.sleep(0.05)
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            for pid in (runner.listener_pid, runner.writer_pid):
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.2)
        for i in range(3):
            outcome = ledger.execute(ReceiveErpOrder(order(f"L{i + 2}")), ERP)
        assert outcome.position is not None
        assert runner.wait_until(outcome.position, timeout=10)
        reader = ViewReader(runner.store)
        try:
            assert reader.status("L4", "erp") is not None
        finally:
            reader.close()
    finally:
        runner.close()


class _Interrupted(Exception):
    """Stands for a rebuild process killed after its first batch."""


def test_a_running_runner_finishes_a_rebuild_interrupted_elsewhere_without_new_writes(
    backend: Backend, ledger: Ledger
) -> None:
    expected = _record(ledger, 0, 20)
    head = ledger.position()
    follower = ViewRunner(ledger, [StatusView()], poll_interval=0.05, watchdog_interval=0.2)
    follower.start()
    try:
        assert follower.wait_until(head, timeout=30)

        def killed(done: int, total: int) -> None:
            raise _Interrupted

        rebuilder = ViewRunner(ledger, [StatusView()], batch_size=7)
        with pytest.raises(_Interrupted):
            rebuilder.rebuild("status", progress=killed)
        assert rebuilder.positions()["status"] < head  # half-rebuilt, and no write comes after
        rebuilder.close()

        # The follower notices the rebuild on its next poll and completes the view.
        assert follower.wait_until(head, timeout=30)
        reader = ViewReader(follower.store)
        try:
            orders = reader.orders(limit=1000)
            assert len(orders) == 20
            assert sum((o.good for o in orders), Decimal(0)) == expected
        finally:
            reader.close()
    finally:
        follower.close()
