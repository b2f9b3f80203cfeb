"""A supervisor's retry or skip of a refused writeback message carries a note, recorded on the
order with who decided (``floorledger writeback retry/skip --note``), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapters.settings import Settings, build_ledger
from api.cli import app
from domain.values import order_id_for
from tests.conftest import Backend
from tests.support.writeback import config, work_order, write_config
from tests.support.writeback_receiver import Receiver


def decisions(url: str, order_no: str) -> list[Any]:
    ledger = build_ledger(Settings(database_url=url))  # type: ignore[arg-type]
    try:
        events = ledger.events.get(order_id_for("erp", order_no))
        return [e for e in events if type(e).__name__ == "WritebackDecided"]
    finally:
        ledger.close()


def test_retry_and_skip_with_a_note_from_the_cli_are_recorded_with_who_decided(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver().start()
    dest = {"name": "erp-rest", "transport": "rest", "url": receiver.url,
            "retry": {"attempts": 1}}  # fmt: skip
    cfg_path = write_config(tmp_path / "plant.toml", config(tmp_path, [dest]))
    monkeypatch.setenv("FLOORLEDGER_DATABASE_URL", backend.url)
    monkeypatch.setenv("FLOORLEDGER_CONFIG", str(cfg_path))
    ledger = backend.ledger()
    try:
        work_order(ledger, "N-1")
    finally:
        ledger.close()
    cli = CliRunner()
    try:
        receiver.refuse_orders = {"N-1"}
        assert cli.invoke(app, ["writeback", "run", "--once"]).exit_code == 0
        retry = ["writeback", "retry", "N-1", "-d", "erp-rest", "--actor", "sam"]
        # a note with a control character, or too long, is refused naming the field
        r = cli.invoke(app, [*retry, "--note", "bell\x07"])
        assert r.exit_code == 1 and "note" in r.output and "control" in r.output
        r = cli.invoke(app, [*retry, "--note", "x" * 1001])
        assert r.exit_code == 1 and "note" in r.output and "1000" in r.output
        assert decisions(backend.url, "N-1") == []  # nothing recorded
        r = cli.invoke(app, [*retry, "--note", "ERP team says the article is fixed"])
        assert r.exit_code == 0, r.output
        assert cli.invoke(app, ["writeback", "run", "--once"]).exit_code == 0  # refused again
        r = cli.invoke(app, ["writeback", "skip", "N-1", "-d", "erp-rest", "--actor", "sam",
                             "--note", "keyed into the ERP by hand"])  # fmt: skip
        assert r.exit_code == 0, r.output
        assert cli.invoke(app, ["writeback", "run", "--once"]).exit_code == 0
        found = decisions(backend.url, "N-1")
        assert [(e.decision, e.note, e.actor_id, e.actor_role, e.source) for e in found] == [
            ("retry", "ERP team says the article is fixed", "sam", "supervisor", "cli"),
            ("skip", "keyed into the ERP by hand", "sam", "supervisor", "cli"),
        ]
        assert "keyed into the ERP by hand" in found[1].summary()
        # the order's history (as an auditor reads it) shows the note and who decided
        r = cli.invoke(app, ["history", "N-1", "--json"])
        assert r.exit_code == 0, r.output
        (skipped,) = [
            e for e in json.loads(r.output) if e.get("details", {}).get("decision") == "skip"
        ]
        assert skipped["details"]["note"] == "keyed into the ERP by hand"
        assert (skipped["actor_id"], skipped["actor_role"]) == ("sam", "supervisor")
        assert "keyed into the ERP by hand" in skipped["summary"]
        # and the chain still verifies with the notes in it
        r = cli.invoke(app, ["audit", "verify"])
        assert r.exit_code == 0, r.output
    finally:
        receiver.stop()
