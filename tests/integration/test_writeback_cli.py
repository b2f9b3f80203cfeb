"""``floorledger writeback`` commands: status, run, retry, skip, replay and trigger."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.settings import Settings, build_ledger
from api.cli import app
from domain.commands import SubmitReport
from tests.support.writeback import OPERATOR, T0, config, work_order, write_config
from tests.support.writeback_receiver import Receiver


def test_cli_status_run_retry_skip_replay_and_trigger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver().start()
    url = f"sqlite:///{tmp_path / 'l.db'}"
    dest = {"name": "erp-rest", "transport": "rest", "url": receiver.url,
            "retry": {"attempts": 1}}  # fmt: skip
    cfg_path = write_config(tmp_path / "plant.toml", config(tmp_path, [dest], mode="E"))
    monkeypatch.setenv("FLOORLEDGER_DATABASE_URL", url)
    monkeypatch.setenv("FLOORLEDGER_CONFIG", str(cfg_path))
    ledger = build_ledger(Settings(database_url=url))  # type: ignore[arg-type]
    try:
        work_order(ledger, "Q-1")
        ledger.execute(
            SubmitReport(
                "Q-1",
                "10",
                started_at=T0,
                ended_at=T0 + timedelta(minutes=5),
                good=1,
                report_id="R1",
            ),
            OPERATOR,
        )
    finally:
        ledger.close()
    cli = CliRunner()
    try:
        r = cli.invoke(app, ["writeback", "trigger", "Q-1", "R1", "--actor", "anna",
                             "--role", "operator"])  # fmt: skip
        assert r.exit_code == 0, r.output
        receiver.refuse_orders = {"Q-1"}
        r = cli.invoke(app, ["writeback", "run", "--once"])
        assert r.exit_code == 0, r.output
        r = cli.invoke(app, ["writeback", "status", "--json"])
        (st,) = json.loads(r.output)
        assert st["parked"][0]["order_no"] == "Q-1" and st["backlog"] == 1
        r = cli.invoke(app, ["writeback", "status"])
        assert "parked" in r.output and "Q-1" in r.output
        receiver.refuse_orders = set()
        r = cli.invoke(app, ["writeback", "retry", "Q-1", "-d", "erp-rest", "--actor", "sam"])
        assert r.exit_code == 0, r.output
        assert cli.invoke(app, ["writeback", "run", "--once"]).exit_code == 0
        assert len(receiver.applied) == 1
        r = cli.invoke(app, ["writeback", "replay", "--destination", "erp-rest", "--from", "1"])
        assert r.exit_code == 0, r.output
        assert cli.invoke(app, ["writeback", "run", "--once"]).exit_code == 0
        assert len(receiver.applied) == 1 and receiver.duplicates == 1
        r = cli.invoke(app, ["writeback", "skip", "Q-1", "-d", "erp-rest"])
        assert r.exit_code == 1 and "not parked" in r.output
        r = cli.invoke(app, ["writeback", "trigger", "Q-1", "NOPE"])
        assert r.exit_code == 1
    finally:
        receiver.stop()


def test_cli_replay_refuses_a_position_beyond_the_head_and_later_events_are_still_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver().start()
    url = f"sqlite:///{tmp_path / 'l.db'}"
    dest = {"name": "erp-rest", "transport": "rest", "url": receiver.url,
            "retry": {"attempts": 1}}  # fmt: skip
    cfg_path = write_config(tmp_path / "plant.toml", config(tmp_path, [dest]))
    monkeypatch.setenv("FLOORLEDGER_DATABASE_URL", url)
    monkeypatch.setenv("FLOORLEDGER_CONFIG", str(cfg_path))
    ledger = build_ledger(Settings(database_url=url))  # type: ignore[arg-type]
    try:
        work_order(ledger, "H-1")
        head = int(ledger.recorder.max_notification_id())
    finally:
        ledger.close()
    cli = CliRunner()
    try:
        beyond = head + 50
        r = cli.invoke(app, ["writeback", "replay", "-d", "erp-rest", "--from", str(beyond)])
        assert r.exit_code == 2, r.output
        assert str(beyond) in r.output and f"head (position {head})" in r.output
        r = cli.invoke(app, ["writeback", "run", "--once"])
        assert r.exit_code == 0, r.output
        r = cli.invoke(app, ["writeback", "status", "--json"])
        (st,) = json.loads(r.output)
        assert st["position"] == head and st["backlog"] == 0
        assert len(receiver.applied) == 10 and receiver.duplicates == 0
        r = cli.invoke(app, ["writeback", "replay", "-d", "erp-rest", "--from", str(head)])
        assert r.exit_code == 0, r.output
    finally:
        receiver.stop()
