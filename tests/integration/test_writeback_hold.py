"""One order the ERP keeps answering 503 for is held at that destination; the others go on
(ADR 0018). A real HTTP receiver on loopback; the pump in this process; SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adapters.writeback.pump import Pump
from adapters.writeback.service import WritebackService
from api.app import create_app
from api.cli import app as cli_app
from domain import Ledger
from tests.conftest import Backend
from tests.e2e.conftest import api_settings
from tests.support.writeback import (
    SUPERVISOR,
    config,
    expected_keys,
    in_order_per_order,
    rest_destination,
    work_order,
    write_config,
)
from tests.support.writeback_receiver import Receiver


def rest(receiver: Receiver, batch_size: int) -> dict[str, object]:
    return rest_destination(receiver, batch_size)


def keys_of(ledger: Ledger, order_no: str, keys: list[str]) -> list[str]:
    oid = str(ledger.order_id(order_no, "erp"))
    return [k for k in keys if k.split(":")[1] == oid]


def drain_until(pump: Pump, done: object, seconds: float = 30) -> None:
    """Run the pump's passes (the background retries of held orders are due on a timer)."""
    start = time.monotonic()
    while not done():  # type: ignore[operator]
        assert time.monotonic() - start < seconds, "not delivered in time"
        pump.run_once()
        time.sleep(0.02)


@pytest.mark.parametrize("batch_size", [1, 10], ids=["single", "batch"])
def test_an_order_the_erp_answers_503_for_is_held_while_every_other_order_is_delivered(
    backend: Backend, tmp_path: Path, receiver: Receiver, batch_size: int
) -> None:
    cfg = config(tmp_path, [rest(receiver, batch_size)])
    ledger = backend.ledger()
    pump = Pump(ledger, cfg)
    svc = WritebackService(ledger, cfg)
    try:
        receiver.fail_orders = {"H-1"}
        for i, no in enumerate(["A-1", "H-1", "B-1", "C-1"]):
            work_order(ledger, no, t=i)
        everything = expected_keys(ledger, "erp-rest")
        held_keys = keys_of(ledger, "H-1", everything)
        others = [k for k in everything if k not in held_keys]

        result = pump.run_once()
        applied = list(receiver.applied)
        print(f"\n[hold/{backend.name}/{batch_size}] first pass: {result}, applied={len(applied)}")
        assert applied == others  # every other order, exactly once, in log order
        st = svc.status("erp-rest")[0]
        print(
            f"[hold/{backend.name}/{batch_size}] first pass: delivered={len(applied)}, "
            f"503s for H-1={receiver.failed_for['H-1']}, held={[h.order_no for h in st.held]}, "
            f"backlog={st.backlog}, position={st.position}/{st.head}"
        )
        assert receiver.duplicates == 0
        assert [h.order_no for h in st.held] == ["H-1"]
        held = st.held[0]
        assert "503" in held.last_error and "recalculated" in held.last_error
        assert held.held_since and held.waiting == len(held_keys) - 1
        assert held.idempotency_key == held_keys[0]
        assert st.position == st.head and st.parked == []
        assert st.backlog == len(held_keys)

        # More floor work while H-1 is held: others go straight through, H-1's waits behind.
        work_order(ledger, "D-1", t=10)
        pump.run_once()
        everything = expected_keys(ledger, "erp-rest")
        assert keys_of(ledger, "D-1", everything)[-1] in receiver.applied
        assert not set(held_keys) & set(receiver.applied)

        receiver.fail_orders = set()  # the ERP answers for H-1 again
        drain_until(pump, lambda: len(receiver.applied) == len(everything))
        st = svc.status("erp-rest")[0]
        applied = list(receiver.applied)
        print(
            f"[hold/{backend.name}/{batch_size}] recovered: delivered={len(applied)}, "
            f"duplicates={receiver.duplicates}, held={st.held}, backlog={st.backlog}"
        )
        assert [k for k in applied if k in held_keys] == held_keys  # in order, all of them
        assert sorted(applied) == sorted(everything) and receiver.duplicates == 0
        assert in_order_per_order(applied) and not receiver.out_of_order
        assert st.held == [] and st.backlog == 0 and st.delivered == len(everything)
    finally:
        svc.close()
        pump.close()
        ledger.close()


def test_when_the_erp_answers_503_for_everyone_no_order_is_held_and_the_destination_waits(
    backend: Backend, tmp_path: Path, receiver: Receiver
) -> None:
    cfg = config(tmp_path, [rest(receiver, 1)])
    ledger = backend.ledger()
    pump = Pump(ledger, cfg)
    svc = WritebackService(ledger, cfg)
    try:
        for i in range(3):
            work_order(ledger, f"W-{i}", t=i)
        receiver.fail_status = 503
        result = pump.run_once()
        st = svc.status("erp-rest")[0]
        print(f"\n[hold/{backend.name}] ERP down: {result}, held={st.held}, pos={st.position}")
        assert str(result["erp-rest"]).startswith("error")
        assert st.held == [] and st.position == 0 and st.backlog == 30
        assert st.last_error and "503" in st.last_error
        receiver.fail_status = None
        pump.get("erp-rest").next_attempt = 0
        pump.run_once()
        assert len(receiver.applied) == 30 and receiver.duplicates == 0
    finally:
        svc.close()
        pump.close()
        ledger.close()


def test_a_supervisor_skips_a_held_order_message_and_its_later_ones_follow(
    backend: Backend, tmp_path: Path, receiver: Receiver
) -> None:
    cfg = config(tmp_path, [rest(receiver, 1)])
    ledger = backend.ledger()
    pump = Pump(ledger, cfg)
    svc = WritebackService(ledger, cfg)
    try:
        receiver.fail_orders = {"H-2"}
        for i, no in enumerate(["H-2", "A-2"]):
            work_order(ledger, no, t=i)
        everything = expected_keys(ledger, "erp-rest")
        held_keys = keys_of(ledger, "H-2", everything)
        pump.run_once()
        assert [h.order_no for h in svc.status("erp-rest")[0].held] == ["H-2"]
        svc.skip("erp-rest", "H-2", SUPERVISOR)
        pump.run_once()  # the skip is carried out; the next message is still answered 503
        (held,) = svc.status("erp-rest")[0].held
        assert held.idempotency_key == held_keys[1] and held.waiting == len(held_keys) - 2
        assert held.decision is None and "503" in held.last_error
        receiver.fail_orders = set()
        drain_until(pump, lambda: not svc.status("erp-rest")[0].held)
        applied = list(receiver.applied)
        assert [k for k in applied if k in held_keys] == held_keys[1:]  # the first is skipped
        assert receiver.duplicates == 0 and svc.status("erp-rest")[0].backlog == 0
        decided = [e for e in ledger.history("H-2") if e.event == "WritebackDecided"]
        assert [(e.actor_id, e.details["decision"]) for e in decided] == [("sam", "skip")]
    finally:
        svc.close()
        pump.close()
        ledger.close()


def test_the_cli_the_http_status_and_the_office_desk_show_a_held_order_and_a_retry_sends_it(
    backend: Backend, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config(tmp_path, [rest(receiver, 1)])
    monkeypatch.setenv("FLOORLEDGER_CONFIG", str(write_config(tmp_path / "plant.toml", cfg)))
    monkeypatch.setenv("FLOORLEDGER_DATABASE_URL", backend.url)
    ledger = backend.ledger()
    pump = Pump(ledger, cfg)
    try:
        receiver.fail_orders = {"H-3"}
        for i, no in enumerate(["H-3", "A-3"]):
            work_order(ledger, no, t=i)
        pump.run_once()

        cli = CliRunner().invoke(cli_app, ["writeback", "status"], env={"COLUMNS": "200"})
        assert cli.exit_code == 0, cli.output
        text = " ".join(cli.output.split())
        assert "held erp-rest order H-3" in text and "(9 more waiting) since" in text
        assert "HTTP 503" in text and "recalculated" in text

        with TestClient(create_app(api_settings(backend.url))) as client:
            tokens = client.app.state.runtime.tokens  # type: ignore[attr-defined]
            _, token = tokens.create("sven", "supervisor")
            auth = {"Authorization": f"Bearer {token}"}
            shown = client.get("/writeback/destinations/erp-rest", headers=auth)
            assert shown.status_code == 200, shown.text
            (held,) = shown.json()["held"]
            assert held["order_no"] == "H-3" and "503" in held["last_error"]
            assert held["held_since"] and held["waiting"] == 9 and held["attempts"] >= 1

            client.get("/office/sign-in")
            signed = client.post(
                "/office/sign-in",
                data={"token": token, "csrf_token": client.cookies["fl_csrf"]},
                follow_redirects=False,
            )
            assert signed.status_code == 303, signed.text
            desk = client.get("/office/writeback")
            assert desk.status_code == 200
            assert "Held orders (1)" in desk.text and 'data-order="H-3"' in desk.text
            assert held["held_since"][:19].replace("T", " ") in desk.text
            assert "recalculated" in desk.text

            retry = client.post(
                "/writeback/destinations/erp-rest/parked/H-3/retry",
                headers={**auth, "Idempotency-Key": "retry-h3"},
            )
            assert retry.status_code == 200, retry.text
        receiver.fail_orders = set()
        pump.run_once()  # the retry is carried out at once, not at the held order's next try
        h3 = keys_of(ledger, "H-3", expected_keys(ledger, "erp-rest"))
        assert [k for k in receiver.applied if k in h3] == h3 and receiver.duplicates == 0
        svc = WritebackService(ledger, cfg)
        try:
            assert svc.status("erp-rest")[0].held == []
        finally:
            svc.close()
    finally:
        pump.close()
        ledger.close()
