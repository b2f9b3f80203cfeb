"""``history`` tells floor time from recorded time and flags late entries; its JSON has the
API's keys (issue #18)."""

from __future__ import annotations

import json
from datetime import timedelta

from typer.testing import CliRunner

from adapters.settings import Settings, build_ledger
from api.cli import app
from domain.commands import ReportQuantity
from tests.conftest import Backend
from tests.support.writeback import OPERATOR, T0, work_order


def test_history_labels_both_times_and_flags_an_event_recorded_out_of_floor_order(
    backend: Backend,
) -> None:
    ledger = build_ledger(Settings(database_url=backend.url))  # type: ignore[arg-type]
    try:
        work_order(ledger, "H-1")  # every floor event in floor-time order, versions 1-11
        # A quantity counted before the order was completed, keyed in only now.
        ledger.execute(ReportQuantity("H-1", "20", good=1, at=T0 + timedelta(minutes=41)), OPERATOR)
    finally:
        ledger.close()
    env = {"FLOORLEDGER_DATABASE_URL": backend.url, "FLOORLEDGER_CONFIG": ""}
    cli = CliRunner()
    table = cli.invoke(app, ["history", "H-1", "--integration", "erp"], env=env)
    assert table.exit_code == 0, table.output
    header = next(line for line in table.stdout.splitlines() if "floor time" in line)
    assert "recorded" in header
    assert "recorded out of floor-time order" in table.stdout
    assert table.stdout.rstrip().endswith("version 12")
    raw = cli.invoke(app, ["history", "H-1", "--integration", "erp", "--json"], env=env)
    entries = json.loads(raw.stdout)
    assert set(entries[0]) == {
        "version", "recorded_at", "occurred_at", "actor_id", "actor_role",
        "source", "event", "summary", "details",
    }  # fmt: skip
    assert entries[1]["actor_id"] == OPERATOR.id and entries[1]["actor_role"] == "operator"
