"""The writeback pump against a real HTTP receiver: outage, parking, retry/skip, modes C/D/E."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.writeback.pump import Pump
from adapters.writeback.service import WritebackError, WritebackService
from domain import Ledger
from domain.commands import StartOperation, SubmitReport
from tests.conftest import Backend
from tests.support.writeback import (
    OPERATOR,
    SUPERVISOR,
    T0,
    config,
    expected_keys,
    in_order_per_order,
    rest_destination,
    work_order,
)
from tests.support.writeback_receiver import Receiver


def rest(receiver: Receiver, **extra: object) -> dict[str, object]:
    return rest_destination(receiver, 25, **extra)


def warnings_of(ledger: Ledger, order_no: str) -> list[tuple[str, str, str]]:
    """The order's writeback trail: parking warnings and supervisors' decisions."""
    out = []
    for e in ledger.history(order_no):
        if e.event == "WarningRaised" and e.details["code"].startswith("writeback_"):
            out.append((e.details["code"], e.actor_id, e.details["reference"]))
        elif e.event == "WritebackDecided":
            code = "writeback_retried" if e.details["decision"] == "retry" else "writeback_skipped"
            out.append((code, e.actor_id, e.details["message_key"]))
    return out


def test_outage_keeps_the_floor_working_and_the_backlog_drains_in_order(
    backend: Backend, tmp_path: Path, receiver: Receiver
) -> None:
    cfg = config(tmp_path, [rest(receiver)])
    ledger = backend.ledger()
    pump = Pump(ledger, cfg)
    svc = WritebackService(ledger, cfg)
    try:
        for i in range(3):
            work_order(ledger, f"A-{i}", t=i)
        pump.run_once()
        assert len(receiver.applied) == 30
        receiver.stop()  # the ERP goes down; the floor keeps working
        for i in range(5):
            work_order(ledger, f"B-{i}", t=10 + i)
        result = pump.run_once()
        assert str(result["erp-rest"]).startswith("error")
        st = svc.status("erp-rest")[0]
        assert st.backlog == 50
        assert st.last_error and "ConnectError" in st.last_error
        assert st.oldest_unsent_age_seconds is not None and st.oldest_unsent_age_seconds > 0
        receiver.start()  # the ERP is back on the same port
        deadline = time.monotonic() + 10
        while len(receiver.applied) < 80 and time.monotonic() < deadline:
            pump.run_once()
            time.sleep(0.02)
        assert sorted(receiver.applied) == sorted(expected_keys(ledger, "erp-rest"))
        assert not receiver.out_of_order and in_order_per_order(list(receiver.applied))
        st = svc.status("erp-rest")[0]
        assert st.backlog == 0 and st.last_error is None and st.delivered == 80
    finally:
        pump.close()
        svc.close()
        ledger.close()


def test_a_refusal_parks_one_order_the_others_flow_and_retry_and_skip_are_audited(
    backend: Backend, tmp_path: Path, receiver: Receiver
) -> None:
    cfg = config(tmp_path, [rest(receiver)])
    ledger = backend.ledger()
    pump = Pump(ledger, cfg)
    svc = WritebackService(ledger, cfg)
    try:
        receiver.refuse_orders = {"R-1", "R-2"}
        for i in range(4):
            work_order(ledger, f"R-{i}", t=i)
        pump.run_once()
        applied_orders = {m["order_no"] for m in receiver.applied.values()}
        assert applied_orders == {"R-0", "R-3"}
        st = svc.status("erp-rest")[0]
        assert {p.order_no for p in st.parked} == {"R-1", "R-2"}
        assert all(p.held == 9 and "422" in p.reason for p in st.parked)
        assert st.backlog == 20
        assert [w[0] for w in warnings_of(ledger, "R-1")] == ["writeback_parked"]
        # the floor goes on with a parked order; its new events wait behind the refusal
        ledger.execute(StartOperation("R-0", "30", at=T0 + timedelta(hours=2)), OPERATOR)
        ledger.execute(StartOperation("R-1", "30", at=T0 + timedelta(hours=2)), OPERATOR)
        pump.run_once()
        assert receiver.sequence["R-0"][-1] > 11
        assert svc.status("erp-rest")[0].parked[0].held + svc.status()[0].parked[1].held == 19

        receiver.refuse_orders = set()
        svc.retry("erp-rest", "R-1", SUPERVISOR)
        svc.skip("erp-rest", "R-2", SUPERVISOR)
        pump.run_once()
        assert svc.status("erp-rest")[0].parked == []
        keys = expected_keys(ledger, "erp-rest")
        skipped = [k for k in keys if k not in receiver.applied]
        assert len(skipped) == 1 and skipped[0].endswith(":2")  # R-2's OperationStarted
        assert not receiver.out_of_order
        assert [w[:2] for w in warnings_of(ledger, "R-1")] == [
            ("writeback_parked", "writeback:erp-rest"),
            ("writeback_retried", SUPERVISOR.id),
        ]
        assert [w[0] for w in warnings_of(ledger, "R-2")] == [
            "writeback_parked",
            "writeback_skipped",
        ]
        with pytest.raises(WritebackError, match="not parked"):
            svc.retry("erp-rest", "R-0", SUPERVISOR)
    finally:
        pump.close()
        svc.close()
        ledger.close()


def test_refused_again_after_retry_parks_again(tmp_path: Path, receiver: Receiver) -> None:
    from adapters.settings import Settings, build_ledger

    cfg = config(tmp_path, [rest(receiver, batch_url=None)])
    ledger = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}"))  # type: ignore[arg-type]
    pump, svc = Pump(ledger, cfg), WritebackService(ledger, cfg)
    try:
        receiver.refuse_orders = {"X-1"}
        work_order(ledger, "X-1")
        pump.run_once()
        svc.retry("erp-rest", "X-1", SUPERVISOR)
        pump.run_once()
        (p,) = svc.status("erp-rest")[0].parked
        assert p.decision is None and p.held == 9
        assert [w[0] for w in warnings_of(ledger, "X-1")] == [
            "writeback_parked",
            "writeback_retried",
            "writeback_parked",
        ]
    finally:
        pump.close()
        svc.close()
        ledger.close()


@pytest.mark.parametrize("mode", ["A", "B", "C"])
def test_modes_a_b_and_c_send_nothing(tmp_path: Path, receiver: Receiver, mode: str) -> None:
    from adapters.settings import Settings, build_ledger

    cfg = config(tmp_path, [rest(receiver)], mode=mode)
    ledger = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}"))  # type: ignore[arg-type]
    pump, svc = Pump(ledger, cfg), WritebackService(ledger, cfg)
    try:
        work_order(ledger, "C-1")
        ledger.execute(
            SubmitReport(
                "C-1",
                "10",
                started_at=T0,
                ended_at=T0 + timedelta(minutes=5),
                good=3,
                report_id="R1",
            ),
            OPERATOR,
        )
        assert pump.run_once() == {}
        assert "sends nothing" in pump.skipped["erp-rest"]
        assert receiver.requests == 0
        st = svc.status("erp-rest")[0]
        assert not st.sends and st.backlog == 0
        with pytest.raises(WritebackError, match="mode E"):
            svc.trigger("C-1", "R1", OPERATOR)
    finally:
        pump.close()
        svc.close()
        ledger.close()


def test_mode_d_sends_automatically_but_not_reports(tmp_path: Path, receiver: Receiver) -> None:
    from adapters.settings import Settings, build_ledger

    cfg = config(tmp_path, [rest(receiver)], mode="D")
    ledger = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}"))  # type: ignore[arg-type]
    pump = Pump(ledger, cfg)
    try:
        import threading

        stop = threading.Event()
        thread = threading.Thread(target=pump.run_forever, args=(stop, 0.02), daemon=True)
        thread.start()
        work_order(ledger, "D-1")
        deadline = time.monotonic() + 10
        while len(receiver.applied) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        pump.wake()
        thread.join(5)
        kinds = [m["kind"] for m in receiver.applied.values()]
        assert len(kinds) == 10 and "report" not in kinds
        assert {"operation_status", "production_result", "quality_result", "order_status"} == set(
            kinds
        )
    finally:
        pump.close()
        ledger.close()


def test_mode_e_sends_a_report_only_when_triggered_and_once_in_effect(
    backend: Backend, tmp_path: Path, receiver: Receiver
) -> None:
    cfg = config(tmp_path, [rest(receiver)], mode="E")
    ledger = backend.ledger()
    pump, svc = Pump(ledger, cfg), WritebackService(ledger, cfg)
    try:
        work_order(ledger, "E-1")
        for rid in ("R1", "R2"):
            ledger.execute(
                SubmitReport(
                    "E-1",
                    "10",
                    started_at=T0,
                    ended_at=T0 + timedelta(minutes=90),
                    good=4,
                    scrap={"burr": 1},
                    report_id=rid,
                ),
                OPERATOR,
            )
        pump.run_once()
        assert receiver.requests == 0
        assert svc.status("erp-rest")[0].backlog == 0
        svc.trigger("E-1", "R2", OPERATOR)
        assert svc.status("erp-rest")[0].backlog == 1
        pump.run_once()
        (msg,) = receiver.applied.values()
        assert msg["kind"] == "report" and msg["data"]["report_id"] == "R2"
        assert msg["data"]["scrap"] == {"SCR-01": "1"}  # reason codes mapped back
        assert msg["data"]["timing"]["actual_seconds"] == "5400"
        assert msg["data"]["unit"] == "ST"
        svc.trigger("E-1", "R2", SUPERVISOR)  # twice: the same key, applied once
        pump.run_once()
        assert len(receiver.applied) == 1 and receiver.duplicates == 1
        triggers = [e for e in ledger.history("E-1") if e.event == "ReportTriggered"]
        assert [(e.actor_id, e.details["report_id"]) for e in triggers] == [
            (OPERATOR.id, "R2"),
            (SUPERVISOR.id, "R2"),
        ]
    finally:
        pump.close()
        svc.close()
        ledger.close()


def test_replay_resends_from_a_position_and_the_receiver_dedupes(
    tmp_path: Path, receiver: Receiver
) -> None:
    from adapters.settings import Settings, build_ledger

    cfg = config(tmp_path, [rest(receiver)])
    ledger = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}"))  # type: ignore[arg-type]
    pump, svc = Pump(ledger, cfg), WritebackService(ledger, cfg)
    try:
        work_order(ledger, "P-1")
        work_order(ledger, "P-2")
        pump.run_once()
        assert receiver.duplicates == 0
        svc.replay("erp-rest", 1)
        assert svc.status("erp-rest")[0].position == 0
        pump.run_once()
        assert len(receiver.applied) == 20 and receiver.duplicates == 20
        with pytest.raises(WritebackError, match="no writeback destination"):
            svc.replay("nope", 1)
    finally:
        pump.close()
        svc.close()
        ledger.close()


def test_a_repeated_keyed_retry_returns_the_first_answer_and_records_one_decision(
    tmp_path: Path, receiver: Receiver
) -> None:
    from domain import IdempotencyKeyReusedError

    cfg = config(tmp_path, [rest(receiver)])
    ledger = Backend("sqlite", f"sqlite:///{tmp_path / 'k.db'}").ledger()
    pump, svc = Pump(ledger, cfg), WritebackService(ledger, cfg)
    try:
        receiver.refuse_orders = {"K-1"}
        work_order(ledger, "K-1", t=0)
        pump.run_once()
        receiver.refuse_orders = set()
        first = svc.retry("erp-rest", "K-1", SUPERVISOR, key="sven:retry-1")
        again = svc.retry("erp-rest", "K-1", SUPERVISOR, key="sven:retry-1")
        assert again.replayed and again.version == first.version
        assert [w[0] for w in warnings_of(ledger, "K-1")] == [
            "writeback_parked",
            "writeback_retried",
        ]
        with pytest.raises(IdempotencyKeyReusedError):
            svc.skip("erp-rest", "K-1", SUPERVISOR, key="sven:retry-1")
    finally:
        pump.close()
        svc.close()
        ledger.close()


def test_pumps_of_two_ledgers_in_one_postgres_database_do_not_lock_each_other_out(
    backend: Backend,
) -> None:
    """Each ledger (its own schema) runs its own pump for a destination of the same name."""
    if backend.name != "postgres":
        pytest.skip("advisory locks are PostgreSQL only")
    from adapters.writeback.pump import DestinationLock
    from projections.db import Database
    from tests.conftest import PG_DSN, pg_schema

    with pg_schema() as schema:
        mine, theirs = Database(backend.url), Database(f"{PG_DSN}?schema={schema}")
        a, b = DestinationLock(mine, "erp-rest"), DestinationLock(theirs, "erp-rest")
        again = DestinationLock(mine, "erp-rest")
        try:
            assert a.acquire()
            assert b.acquire()  # another ledger's pump of the same destination name
            assert not again.acquire()  # a second pump of this ledger still waits its turn
        finally:
            for lock in (a, b, again):
                lock.release()
            mine.dispose()
            theirs.dispose()
