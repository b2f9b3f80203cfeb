"""The writeback pump at its edges: a flaky receiver, a message a destination cannot encode,
a supervisor's decision that exists only as the order's event (#11 items 3, 4b, 5)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import domain.workorder as workorder
from adapters.writeback.pump import Pump
from adapters.writeback.service import WritebackService
from domain import Ledger
from domain.commands import DecideWriteback, PauseOperation, ReceiveErpOrder, StartOperation
from tests.conftest import Backend
from tests.support.writeback import (
    ERP,
    OPERATOR,
    SUPERVISOR,
    an_order,
    config,
    expected_keys,
    in_order_per_order,
    rest_destination,
    work_order,
)
from tests.support.writeback_receiver import Receiver


def rest(receiver: Receiver, **extra: object) -> dict[str, object]:
    return rest_destination(receiver, 5, attempts=1, max_seconds=0.02, **extra)


def drain(pump: Pump, passes: int = 400) -> int:
    """Run passes (ignoring the backoff) until every destination's backlog is read and no
    order is held (a held order is retried on its own backoff timer)."""
    for i in range(passes):
        for p in pump.pumps.values():
            p.next_attempt = 0.0
        result = pump.run_once()
        if all(isinstance(v, int) and v == 0 for v in result.values()):
            if not any(p.state.holds(p.name) for p in pump.pumps.values()):
                return i + 1
            time.sleep(0.02)
    return passes


def test_a_flaky_receiver_cannot_hold_the_position_back_and_nothing_is_applied_twice(
    backend: Backend, tmp_path: Path, receiver: Receiver
) -> None:
    # Every fourth request or so fails (503, dropped connection, slow answer); one attempt per
    # delivery, so a scan of 200 messages in chunks of 5 cannot get through in one go.
    receiver.flaky = 0.25
    receiver.slow_seconds = 0.01
    cfg = config(tmp_path, [rest(receiver)])
    ledger = backend.ledger()
    pump, svc = Pump(ledger, cfg), WritebackService(ledger, cfg)
    try:
        for i in range(20):
            work_order(ledger, f"F-{i:02d}", t=i)
        expected = expected_keys(ledger, "erp-rest")
        passes = drain(pump)
        st = svc.status("erp-rest")[0]
        print(
            f"flaky receiver: {len(expected)} expected, {len(receiver.applied)} applied, "
            f"{receiver.deliveries} deliveries, {receiver.duplicates} duplicates, "
            f"faults {dict(receiver.faults)}, {passes} passes, position {st.position}/{st.head}"
        )
        assert st.position == st.head and st.backlog == 0
        assert sorted(receiver.applied) == sorted(expected)
        assert not receiver.out_of_order and in_order_per_order(list(receiver.applied))
        assert sum(receiver.faults.values()) > 0
        # Only what was in flight when a request failed is sent again: a chunk of 5.
        assert receiver.duplicates <= 5 * receiver.faults["drop_after"]
    finally:
        pump.close()
        svc.close()
        ledger.close()


def pause_with_a_stored_bad_reason(
    ledger: Ledger, order_no: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Record a pause whose reason code the text check refuses today (stored before it)."""
    with monkeypatch.context() as m:
        m.setattr(workorder, "text", lambda field, value, **kw: str(value))
        ledger.execute(PauseOperation(order_no, "10", reason, integration="erp"), OPERATOR)


def test_a_message_a_destination_cannot_encode_parks_only_that_order_at_that_destination(
    backend: Backend, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    b2mml = {"name": "erp-b2mml", "transport": "files", "outbox": str(tmp_path / "xml"),
             "format": "b2mml", "batch_size": 50}  # fmt: skip
    csv = {"name": "erp-csv", "transport": "files", "outbox": str(tmp_path / "csv"),
           "format": "csv", "batch_size": 50}  # fmt: skip
    cfg = config(tmp_path, [b2mml, csv, rest(receiver)])
    ledger = backend.ledger()
    pump, svc = Pump(ledger, cfg), WritebackService(ledger, cfg)
    try:
        work_order(ledger, "OK-1", t=0)
        ledger.execute(ReceiveErpOrder(an_order("BAD-1"), integration="erp"), ERP)
        ledger.execute(StartOperation("BAD-1", "10", integration="erp"), OPERATOR)
        pause_with_a_stored_bad_reason(ledger, "BAD-1", "MAT\uffffWAIT", monkeypatch)
        work_order(ledger, "OK-2", t=5)
        result = pump.run_once()
        assert all(isinstance(v, int) for v in result.values()), result
        by_name = {s.destination: s for s in svc.status()}
        xml = by_name["erp-b2mml"]
        print(
            "poison character:",
            {
                n: (s.position, s.head, s.delivered, [p.order_no for p in s.parked])
                for n, s in by_name.items()
            },
        )
        assert [p.order_no for p in xml.parked] == ["BAD-1"]
        assert "cannot be encoded" in xml.parked[0].reason and xml.backlog == 1
        assert xml.delivered == 21  # both other orders' ten messages and BAD-1's start
        assert by_name["erp-csv"].parked == [] and by_name["erp-csv"].delivered == 22
        assert by_name["erp-rest"].parked == [] and len(receiver.applied) == 22
        warnings = [e for e in ledger.history("BAD-1") if e.event == "WarningRaised"]
        assert [w.details["code"] for w in warnings] == ["writeback_parked"]
    finally:
        pump.close()
        svc.close()
        ledger.close()


def test_a_decision_recorded_only_as_the_orders_event_reaches_the_pump(
    backend: Backend, tmp_path: Path, receiver: Receiver
) -> None:
    cfg = config(tmp_path, [rest(receiver)])
    ledger = backend.ledger()
    pump, svc = Pump(ledger, cfg), WritebackService(ledger, cfg)
    try:
        receiver.refuse_orders = {"D-1"}
        work_order(ledger, "D-1", t=0)
        work_order(ledger, "D-2", t=1)
        pump.run_once()
        (parked,) = svc.status("erp-rest")[0].parked
        assert parked.order_no == "D-1" and parked.held == 9
        receiver.refuse_orders = set()
        # What is left of a decision when the process stops right after recording it on the
        # order: the WritebackDecided event, nothing in the pump's tables.
        ledger.execute(
            DecideWriteback(
                "D-1",
                "erp-rest",
                "skip",
                integration="erp",
                message_key=parked.idempotency_key[:200],
                reason=parked.reason,
            ),
            SUPERVISOR,
        )
        pump.run_once()
        st = svc.status("erp-rest")[0]
        assert st.parked == [] and st.backlog == 0 and st.position == st.head
        d1 = [k for k in receiver.applied if receiver.applied[k]["order_no"] == "D-1"]
        assert len(d1) == 9 and parked.idempotency_key not in receiver.applied
        assert len(receiver.applied) == 19 and receiver.duplicates == 0
    finally:
        pump.close()
        svc.close()
        ledger.close()
