"""Writeback at its edges, with the pump as its own process (``writeback run``): a flaky ERP
and SIGKILLs, one order the ERP keeps answering 503 for (held) and a SIGKILL while it is held,
a character a destination cannot encode, a replay past the head."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import domain.workorder as workorder
from adapters.settings import Settings, build_ledger
from adapters.writeback.service import WritebackService
from domain import Ledger
from domain.commands import PauseOperation, ReceiveErpOrder, StartOperation
from tests.faults.conftest import ROOT, Cli, counts, sigkill, stop, wait_until
from tests.support.writeback import (
    ERP,
    OPERATOR,
    an_order,
    config,
    expected_keys,
    in_order_per_order,
    work_order,
    write_config,
)
from tests.support.writeback_receiver import Receiver

ORDERS = 60
KILLS = 6


def ledger_at(url: str) -> Ledger:
    return build_ledger(Settings(database_url=url))  # type: ignore[arg-type]


def status_of(url: str, cfg: Any, name: str = "erp-rest") -> Any:
    """The destination's writeback status, read by another process than the pump's."""
    ledger = ledger_at(url)
    svc = WritebackService(ledger, cfg)
    try:
        return svc.status(name)[0]
    finally:
        svc.close()
        ledger.close()


def rest_destination(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return {
        "name": "erp-rest",
        "transport": "rest",
        "url": receiver.url,
        "batch_url": receiver.batch_url,
        "batch_size": 10,
        "timeout_seconds": 0.3,
        "retry": {"attempts": 2, "initial_seconds": 0.02, "max_seconds": 0.1},
        **extra,
    }


def test_a_flaky_erp_and_repeated_sigkills_of_the_pump_lose_and_double_nothing(
    tmp_path: Path, sqlite_url: str
) -> None:
    receiver = Receiver()
    receiver.flaky = 0.2  # 503s, dropped connections before/after applying, slow answers
    receiver.slow_seconds = 0.5  # beyond the pump's 0.3 s timeout: applied, answer lost
    receiver.delay = 0.002
    receiver.start()
    try:
        cfg = config(tmp_path, [rest_destination(receiver)], scan_size=2000, flush_seconds=1)
        ledger = ledger_at(sqlite_url)
        try:
            for i in range(ORDERS):
                work_order(ledger, f"F-{i:03d}", t=i)
            recorded = expected_keys(ledger, "erp-rest")
        finally:
            ledger.close()
        cli = Cli(sqlite_url, {"FLOORLEDGER_CONFIG": str(write_config(tmp_path / "p.toml", cfg))})
        rng = random.Random(5)
        at_kill: list[int] = []
        held_at_kill: list[int] = []
        for _ in range(KILLS):
            before = len(receiver.applied)
            pump = cli.spawn("writeback", "run", "--poll", "0.05")
            try:
                wait_until(
                    lambda b=before: (
                        len(receiver.applied) > b  # type: ignore[misc]
                        or len(receiver.applied) == len(recorded)
                    ),
                    30,
                    "the restarted pump delivers",
                )
                time.sleep(rng.uniform(0.0, 0.3))
            finally:
                sigkill(pump)
            at_kill.append(len(receiver.applied))
            held_at_kill.append(len(status_of(sqlite_url, cfg).held))
        pump = cli.spawn("writeback", "run", "--poll", "0.05")
        try:
            took = wait_until(
                lambda: len(receiver.applied) == len(recorded), 90, "every message delivered"
            )
            # An order held by a run of faults is cleared by its background retry.
            wait_until(lambda: not status_of(sqlite_url, cfg).held, 30, "held orders cleared")
        finally:
            stop(pump)
        ledger = ledger_at(sqlite_url)
        svc = WritebackService(ledger, cfg)
        try:
            st = svc.status("erp-rest")[0]
        finally:
            svc.close()
            ledger.close()
        lost = set(recorded) - set(receiver.applied)
        unknown = set(receiver.applied) - set(recorded)
        counts(
            "flaky ERP + SIGKILLed pump",
            acknowledged=ORDERS * 10,
            recorded=len(recorded),
            delivered=len(receiver.applied),
            requests=receiver.requests,
            deliveries=receiver.deliveries,
            duplicates_deduped=receiver.duplicates,
            lost=len(lost),
            unknown=len(unknown),
            out_of_order=len(receiver.out_of_order),
            faults=dict(receiver.faults),
            applied_at_each_kill=at_kill,
            held_orders_at_each_kill=held_at_kill,
            last_run_seconds=round(took, 1),
            position=f"{st.position}/{st.head}",
            backlog=st.backlog,
            held_at_end=len(st.held),
        )
        assert len(recorded) == ORDERS * 10
        assert not lost and not unknown and not receiver.out_of_order
        assert in_order_per_order(list(receiver.applied))
        assert any(0 < a < len(recorded) for a in at_kill), f"no kill landed mid-drain: {at_kill}"
        assert sum(receiver.faults.values()) > 0
        assert st.position == st.head and st.backlog == 0 and st.parked == [] and st.held == []
        # Re-sent: what was in flight at each kill or failed request — a chunk each, not a scan.
        resent_bound = 10 * (KILLS + sum(receiver.faults.values()) * 2)
        assert receiver.duplicates <= resent_bound
    finally:
        receiver.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


def test_an_order_the_erp_answers_503_for_is_held_and_a_sigkill_while_held_resends_nothing(
    tmp_path: Path, store_url: str
) -> None:
    receiver = Receiver()
    receiver.fail_orders = {"H-00"}
    receiver.start()
    try:
        # A generous timeout: the hold must record the ERP's 503, not a receiver slowed by a
        # loaded machine (CI once saw "ReadTimeout" there with 2 s).
        dest = rest_destination(receiver, timeout_seconds=15)
        cfg = config(tmp_path, [dest], flush_seconds=1)
        ledger = ledger_at(store_url)
        try:
            for i in range(12):
                work_order(ledger, "H-00" if i == 4 else f"G-{i:02d}", t=i)
            recorded = expected_keys(ledger, "erp-rest")
            oid = str(ledger.order_id("H-00", "erp"))
        finally:
            ledger.close()
        held_keys = [k for k in recorded if k.split(":")[1] == oid]
        cli = Cli(store_url, {"FLOORLEDGER_CONFIG": str(write_config(tmp_path / "p.toml", cfg))})
        pump = cli.spawn("writeback", "run", "--poll", "0.05")
        try:
            wait_until(
                lambda: (
                    len(receiver.applied) == len(recorded) - len(held_keys)
                    and bool(status_of(store_url, cfg).held)
                ),
                60,
                "every other order delivered and H-00 held",
            )
            ledger = ledger_at(store_url)  # more floor work while H-00 is held
            try:
                for i in range(12, 16):
                    work_order(ledger, f"G-{i:02d}", t=i)
                recorded = expected_keys(ledger, "erp-rest")
            finally:
                ledger.close()
            wait_until(
                lambda: (
                    len(receiver.applied) == len(recorded) - len(held_keys)
                    and status_of(store_url, cfg).position == status_of(store_url, cfg).head
                ),
                60,
                "the later orders delivered past the held one and recorded as such",
            )
            tries_before_kill = receiver.failed_for["H-00"]
        finally:
            sigkill(pump)
        held = status_of(store_url, cfg)
        applied_at_kill = len(receiver.applied)
        pump = cli.spawn("writeback", "run", "--poll", "0.05")
        try:
            wait_until(
                lambda: receiver.failed_for["H-00"] > tries_before_kill + 2,
                30,
                "the restarted pump retries the held order",
            )
            still = status_of(store_url, cfg)
            resent_after_restart = receiver.duplicates
            receiver.fail_orders = set()  # the ERP answers for H-00 again
            took = wait_until(
                lambda: len(receiver.applied) == len(recorded), 60, "the held order delivered"
            )
            wait_until(lambda: not status_of(store_url, cfg).held, 30, "the hold cleared")
        finally:
            stop(pump)
        st = status_of(store_url, cfg)
        applied = list(receiver.applied)
        lost = set(recorded) - set(applied)
        counts(
            f"one order answered 503 ({store_url.split(':')[0]}), SIGKILL while held",
            recorded=len(recorded),
            held_order_messages=len(held_keys),
            delivered_before_kill=applied_at_kill,
            held_at_kill=[(h.order_no, h.waiting, h.attempts) for h in held.held],
            last_error=held.held[0].last_error[-50:] if held.held else None,
            held_since=held.held[0].held_since if held.held else None,
            held_after_restart=[h.order_no for h in still.held],
            tries_503=receiver.failed_for["H-00"],
            resent_after_restart=resent_after_restart,
            delivered=len(applied),
            duplicates_deduped=receiver.duplicates,
            lost=len(lost),
            out_of_order=len(receiver.out_of_order),
            recovery_seconds=round(took, 1),
            position=f"{st.position}/{st.head}",
            backlog=st.backlog,
        )
        assert applied_at_kill == len(recorded) - len(held_keys)
        assert [h.order_no for h in held.held] == ["H-00"]
        assert "503" in held.held[0].last_error and held.held[0].waiting == len(held_keys) - 1
        assert held.position == held.head and held.backlog == len(held_keys)
        assert [h.order_no for h in still.held] == ["H-00"]
        assert still.held[0].held_since == held.held[0].held_since
        assert resent_after_restart == 0 and receiver.duplicates == 0
        assert not lost and [k for k in applied if k in held_keys] == held_keys
        assert in_order_per_order(applied) and not receiver.out_of_order
        assert st.held == [] and st.backlog == 0 and st.position == st.head
    finally:
        receiver.stop()


def test_a_poison_character_is_refused_by_the_api_and_a_stored_one_parks_one_order_at_one_place(
    tmp_path: Path, sqlite_url: str, api_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver().start()
    try:
        b2mml = {"name": "erp-b2mml", "transport": "files", "outbox": str(tmp_path / "xml"),
                 "format": "b2mml", "batch_size": 50}  # fmt: skip
        csv = {"name": "erp-csv", "transport": "files", "outbox": str(tmp_path / "csv"),
               "format": "csv", "batch_size": 50}  # fmt: skip
        cfg = config(tmp_path, [b2mml, csv, rest_destination(receiver)])
        ledger = ledger_at(sqlite_url)
        try:
            ledger.execute(ReceiveErpOrder(an_order("BAD-1"), integration="erp"), ERP)
            ledger.execute(StartOperation("BAD-1", "10", integration="erp"), OPERATOR)
        finally:
            ledger.close()

        api = api_server(sqlite_url)
        r = api.post("operator", "/orders/BAD-1/operations/10/pause", {"reason_code": "X\uffff"})
        refused = (r.status_code, r.json().get("field"))
        api.close()
        assert refused == (422, "reason_code"), r.text

        ledger = ledger_at(sqlite_url)
        try:
            work_order(ledger, "OK-1", t=0)
            with monkeypatch.context() as m:  # a value stored before the check existed
                m.setattr(workorder, "text", lambda field, value, **kw: str(value))
                ledger.execute(
                    PauseOperation("BAD-1", "10", "MAT\uffffWAIT", integration="erp"), OPERATOR
                )
            work_order(ledger, "OK-2", t=5)
        finally:
            ledger.close()
        cli = Cli(sqlite_url, {"FLOORLEDGER_CONFIG": str(write_config(tmp_path / "p.toml", cfg))})
        run = cli.run("writeback", "run", "--once")
        assert run.returncode == 0, run.stderr
        status = cli.run("writeback", "status", "--json")
        assert status.returncode == 0, status.stderr
        by_name = {s["destination"]: s for s in json.loads(status.stdout)}
        figures = {
            n: {"delivered": s["delivered"], "parked": [p["order_no"] for p in s["parked"]],
                "backlog": s["backlog"], "last_error": s["last_error"]}
            for n, s in by_name.items()
        }  # fmt: skip
        counts("poison character", api_refused=refused, destinations=figures)
        xml = by_name["erp-b2mml"]
        assert [p["order_no"] for p in xml["parked"]] == ["BAD-1"]
        assert "cannot be encoded" in xml["parked"][0]["reason"]
        assert xml["delivered"] == 21 and xml["backlog"] == 1
        for other in ("erp-csv", "erp-rest"):
            assert by_name[other]["parked"] == [] and by_name[other]["delivered"] == 22
            assert by_name[other]["backlog"] == 0
        assert len(receiver.applied) == 22 and receiver.duplicates == 0
        skip = cli.run("writeback", "skip", "BAD-1", "-d", "erp-b2mml", "--actor", "sam")
        assert skip.returncode == 0, skip.stdout + skip.stderr
        assert cli.run("writeback", "run", "--once").returncode == 0
        xml = json.loads(cli.run("writeback", "status", "-d", "erp-b2mml", "--json").stdout)[0]
        assert xml["parked"] == [] and xml["backlog"] == 0
    finally:
        receiver.stop()


def test_a_replay_past_the_head_is_refused_and_later_events_still_reach_the_erp(
    tmp_path: Path, sqlite_url: str
) -> None:
    receiver = Receiver().start()
    try:
        cfg = config(tmp_path, [rest_destination(receiver)])
        ledger = ledger_at(sqlite_url)
        try:
            work_order(ledger, "R-1")
            head = int(ledger.recorder.max_notification_id())
        finally:
            ledger.close()
        cli = Cli(sqlite_url, {"FLOORLEDGER_CONFIG": str(write_config(tmp_path / "p.toml", cfg))})
        bad = cli.run("writeback", "replay", "-d", "erp-rest", "--from", str(head + 100))
        ledger = ledger_at(sqlite_url)
        try:
            work_order(ledger, "R-2", t=5)
        finally:
            ledger.close()
        assert cli.run("writeback", "run", "--once").returncode == 0
        st = json.loads(cli.run("writeback", "status", "--json").stdout)[0]
        counts(
            "replay past the head",
            exit_code=bad.returncode,
            message=" ".join((bad.stdout + bad.stderr).split()),
            recorded=20,
            delivered=len(receiver.applied),
            lost=20 - len(receiver.applied),
            position=f"{st['position']}/{st['head']}",
            backlog=st["backlog"],
        )
        assert bad.returncode == 2
        assert str(head + 100) in bad.stdout + bad.stderr
        assert f"head (position {head})" in " ".join((bad.stdout + bad.stderr).split())
        assert len(receiver.applied) == 20 and st["backlog"] == 0
        assert st["position"] == st["head"]
    finally:
        receiver.stop()


def test_a_pump_stuck_on_an_erp_that_never_answers_stops_soon_after_sigterm_losing_nothing(
    tmp_path: Path, sqlite_url: str
) -> None:
    """An ERP that takes the connection and never answers (timeout 120 s): SIGTERM stops the
    pump within its grace (10 s) all the same, saying so; the next start delivers it all."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # accepts (the kernel does), never reads, never answers
    hanging = f"http://127.0.0.1:{silent.getsockname()[1]}"
    receiver = Receiver().start()
    try:
        ledger = ledger_at(sqlite_url)
        try:
            work_order(ledger, "S-1")
            expected = expected_keys(ledger, "erp-rest")
        finally:
            ledger.close()
        stuck = config(tmp_path, [{
            "name": "erp-rest", "transport": "rest", "url": hanging + "/erp",
            "timeout_seconds": 120, "retry": {"attempts": 1},
        }])  # fmt: skip
        cli = Cli(sqlite_url, {"FLOORLEDGER_CONFIG": str(write_config(tmp_path / "s.toml", stuck))})
        log = tmp_path / "pump.log"
        with log.open("wb") as out:
            pump = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "writeback", "run", "--poll", "0.05"],
                cwd=ROOT, env=cli.env, stdout=out, stderr=out,
            )  # fmt: skip
            time.sleep(3)  # started, and waiting on the silent ERP
            assert pump.poll() is None
            asked = time.monotonic()
            pump.send_signal(signal.SIGTERM)
            try:
                code = pump.wait(30)
            finally:
                sigkill(pump)
            took = time.monotonic() - asked
        said = " ".join(log.read_text().split())
        good = config(tmp_path, [rest_destination(receiver)])
        after = Cli(
            sqlite_url, {"FLOORLEDGER_CONFIG": str(write_config(tmp_path / "g.toml", good))}
        )
        assert after.run("writeback", "run", "--once").returncode == 0
        counts(
            "pump stuck on a silent ERP",
            sigterm_to_exit_s=round(took, 2),
            exit_code=code,
            recorded=len(expected),
            delivered_after_restart=len(receiver.applied),
            lost=len(set(expected) - set(receiver.applied)),
        )
        assert code == 1 and took < 20, (code, took)
        assert "did not stop within 10 s" in said, said
        assert sorted(receiver.applied) == sorted(expected)
    finally:
        receiver.stop()
        silent.close()
