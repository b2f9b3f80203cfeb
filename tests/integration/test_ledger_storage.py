"""Storage behaviour of the Ledger on SQLite and on PostgreSQL (one parametrized fixture)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from domain import Ledger, OperationState, OrderState
from domain.commands import ReceiveErpOrder, ReportQuantity, ResolveConflict, StartOperation
from tests.conftest import PG_DSN, Backend
from tests.factories import ERP, OPERATOR, SUPERVISOR, an_erp_order, minutes_ago


def test_an_order_saved_is_reloaded_identically_by_a_fresh_ledger(backend: Backend) -> None:
    first = backend.ledger()
    first.execute(ReceiveErpOrder(an_erp_order()), ERP)
    first.execute(StartOperation("WO-1", "10", at=minutes_ago(30)), OPERATOR)
    first.execute(ReportQuantity("WO-1", "10", good=4, scrap=1, scrap_reason="S1"), OPERATOR)
    first.close()
    second = backend.ledger()
    try:
        order = second.get_order("WO-1")
        assert order.state == OrderState.IN_PROGRESS
        assert order.progress("10").state == OperationState.RUNNING
        assert (order.progress("10").good, order.progress("10").scrap) == (4, {"S1": 1})
        assert [h.event for h in second.history("WO-1")] == [
            "Released",
            "OperationStarted",
            "QuantityReported",
        ]
    finally:
        second.close()


def test_the_same_erp_order_from_two_ledgers_lands_on_the_same_aggregate(
    backend: Backend,
) -> None:
    a, b = backend.ledger(), backend.ledger()
    try:
        a.execute(ReceiveErpOrder(an_erp_order("WO-9")), ERP)
        out = b.execute(ReceiveErpOrder(an_erp_order("WO-9")), ERP)
        assert out.events == ()
        assert a.order_id("WO-9") == b.order_id("WO-9")
        b.execute(StartOperation("WO-9", "10"), OPERATOR)
        assert a.get_order("WO-9").progress("10").state == OperationState.RUNNING
    finally:
        a.close()
        b.close()


def test_two_concurrent_writers_on_one_order_lose_no_update(backend: Backend) -> None:
    setup = backend.ledger()
    setup.execute(ReceiveErpOrder(an_erp_order(quantity=Decimal(1000))), ERP)
    setup.close()
    writers = [backend.ledger(), backend.ledger()]  # separate caches, like two processes
    per_writer = 15
    errors: list[BaseException] = []

    def work(ledger: Ledger) -> None:
        try:
            for _ in range(per_writer):
                ledger.execute(ReportQuantity("WO-1", "10", good=1), OPERATOR)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        order = writers[0].get_order("WO-1")
        assert order.progress("10").good == 2 * per_writer
        assert order.version == 1 + 2 * per_writer
    finally:
        for w in writers:
            w.close()


def test_racing_identical_commands_with_one_idempotency_key_take_effect_once(
    backend: Backend,
) -> None:
    setup = backend.ledger()
    setup.execute(ReceiveErpOrder(an_erp_order()), ERP)
    setup.close()
    ledgers = [backend.ledger() for _ in range(4)]
    barrier = threading.Barrier(len(ledgers))
    outcomes = []
    lock = threading.Lock()

    def send(ledger: Ledger) -> None:
        barrier.wait()
        out = ledger.execute(ReportQuantity("WO-1", "10", good=3), OPERATOR, key="tablet-1:42")
        with lock:
            outcomes.append(out)

    threads = [threading.Thread(target=send, args=(ledger,)) for ledger in ledgers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(outcomes) == 4
        assert sum(not o.replayed for o in outcomes) == 1
        assert {o.version for o in outcomes} == {2}
        assert ledgers[0].get_order("WO-1").progress("10").good == 3
    finally:
        for ledger in ledgers:
            ledger.close()


# ---------------------------------------------------------------- tamper evidence


def _execute_sql(backend: Backend, sql: str) -> int:
    """Run plain SQL against the store behind the ledger's back; returns rows affected."""
    if backend.name == "sqlite":
        import sqlite3

        path = backend.url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            return conn.execute(sql.format(table="stored_events")).rowcount
    schema = backend.url.split("schema=")[1]
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        return conn.execute(sql.format(table=f"{schema}.ledger_events")).rowcount  # type: ignore[arg-type]


def _as_text(backend: Backend) -> tuple[str, str]:
    if backend.name == "sqlite":
        return "CAST(state AS TEXT)", "CAST({} AS BLOB)"
    return "convert_from(state, 'UTF8')", "convert_to({}, 'UTF8')"


def _replace_sql(expr: str, old: str, new: str) -> str:
    return f"replace({expr}, '{old}', '{new}')"


def _a_worked_order(backend: Backend) -> None:
    ledger = backend.ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order("WO-1")), ERP)
    ledger.execute(ReceiveErpOrder(an_erp_order("WO-2")), ERP)
    ledger.execute(StartOperation("WO-1", "10"), OPERATOR)
    ledger.execute(ReportQuantity("WO-1", "10", good=5), OPERATOR)
    ledger.execute(ReportQuantity("WO-1", "10", good=2), OPERATOR)
    ledger.execute(ReceiveErpOrder(an_erp_order("WO-1", quantity=Decimal(20))), ERP)
    ledger.execute(ResolveConflict("WO-1", "quantity", "keep_floor"), SUPERVISOR)
    assert ledger.verify().ok
    ledger.close()


def _verify_cli(backend: Backend) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FLOORLEDGER_DATABASE_URL=backend.url)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_audit_verify_names_an_event_changed_with_plain_sql(backend: Backend) -> None:
    _a_worked_order(backend)
    read, write = _as_text(backend)
    expr = write.format(_replace_sql(read, '"_data_":"5"', '"_data_":"50"'))
    changed = _execute_sql(
        backend,
        "UPDATE {table} SET state = "
        + expr
        + " WHERE originator_version = 3 AND topic LIKE '%QuantityReported'",
    )
    assert changed == 1
    ledger = backend.ledger()
    try:
        report = ledger.verify()
        assert [(f.aggregate, f.version) for f in report.findings] == [("WO-1", 3)]
        assert "altered" in report.findings[0].problem
        assert ledger.get_order("WO-1").progress("10").good == 52  # the tampered value loads
    finally:
        ledger.close()
    result = _verify_cli(backend)
    assert result.returncode == 1
    assert "WO-1" in result.stdout and "altered" in result.stdout


def test_audit_verify_names_an_event_deleted_with_plain_sql(backend: Backend) -> None:
    _a_worked_order(backend)
    deleted = _execute_sql(
        backend,
        "DELETE FROM {table} WHERE originator_version = 4 AND topic LIKE '%QuantityReported'",
    )
    assert deleted == 1
    ledger = backend.ledger()
    try:
        report = ledger.verify()
        assert [(f.aggregate, f.version, f.problem) for f in report.findings] == [
            ("WO-1", 4, "missing: version 4")
        ]
    finally:
        ledger.close()
    result = _verify_cli(backend)
    assert result.returncode == 1
    assert "missing" in result.stdout


def test_audit_verify_passes_an_untouched_store_and_exits_zero(backend: Backend) -> None:
    _a_worked_order(backend)
    result = _verify_cli(backend)
    assert result.returncode == 0, result.stderr
    assert "every hash chain intact" in result.stdout


def test_a_content_change_with_a_recomputed_hash_still_breaks_the_chain(backend: Backend) -> None:
    _a_worked_order(backend)
    ledger = backend.ledger()
    # Forge version 3 consistently with its own hash: the next event no longer chains to it.
    from domain.chain import recompute

    events = list(ledger.events.get(ledger.order_id("WO-1")))
    forged_prev = events[1].chain_hash
    import dataclasses

    forged = dataclasses.replace(events[2], good=Decimal(50), chain_hash="")
    new_hash = recompute(forged_prev, forged)
    ledger.close()
    read, write = _as_text(backend)
    old_hash = events[2].chain_hash
    expr = _replace_sql(_replace_sql(read, '"_data_":"5"', '"_data_":"50"'), old_hash, new_hash)
    sql = "UPDATE {table} SET state = " + write.format(expr)
    sql += " WHERE originator_version = 3 AND topic LIKE '%QuantityReported'"
    assert _execute_sql(backend, sql) == 1
    ledger = backend.ledger()
    try:
        findings = ledger.verify().findings
        assert [(f.aggregate, f.version) for f in findings] == [("WO-1", 4)]
    finally:
        ledger.close()


@pytest.mark.parametrize("command", ["history", "audit"])
def test_the_cli_refuses_a_bad_database_url_naming_it(command: str) -> None:
    env = dict(os.environ, FLOORLEDGER_DATABASE_URL="mysql://x@y/z")
    args = ["history", "WO-1"] if command == "history" else ["audit", "verify"]
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert "FLOORLEDGER_DATABASE_URL" in result.stderr and "mysql" in result.stderr


def test_audit_verify_names_the_deleted_last_events_of_an_order_the_views_had_seen(
    backend: Backend,
) -> None:
    from projections import ViewRunner

    _a_worked_order(backend)
    ledger = backend.ledger()
    runner = ViewRunner(ledger)
    runner.setup()
    runner.catch_up()
    runner.close()
    ledger.close()
    # the last two events of WO-1 (conflict raised, resolved) vanish: the chain alone is intact
    deleted = _execute_sql(
        backend, "DELETE FROM {table} WHERE originator_version >= 5 AND topic LIKE '%Conflict%'"
    )
    assert deleted == 2
    ledger = backend.ledger()
    try:
        assert ledger.verify().ok  # no reader's evidence: undetectable by the chain
    finally:
        ledger.close()
    result = _verify_cli(backend)
    assert result.returncode == 1
    assert "WO-1" in result.stdout and "versions 5–6" in result.stdout
    assert "status view" in result.stdout
