"""Time on the floor through the real API process (issue #11, item 8), on SQLite and
PostgreSQL: a start back-dated to 2020 is refused and records nothing; a start two hours back
is recorded with a ``backdated`` warning; an out-of-order resume (a terminal's queue replayed
late) does not inflate the run time the pump sends to the ERP beyond the wall time since the
first start. The server runs with the default window (24 h)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.settings import Settings, build_ledger
from domain.commands import ReceiveErpOrder
from tests.faults.conftest import Cli, counts
from tests.support.writeback import ERP, an_order, config, write_config
from tests.support.writeback_receiver import Receiver

OP = "/orders/T-1/operations/10"


def at(hours_ago: float, base: datetime) -> str:
    return (base - timedelta(hours=hours_ago)).isoformat()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_start_back_dated_to_2020_is_refused_and_run_time_sent_to_the_erp_is_bounded(
    store: str, request: pytest.FixtureRequest, tmp_path: Path, api_server: Any
) -> None:
    url = request.getfixturevalue("sqlite_url" if store == "sqlite" else "pg_url")
    ledger = build_ledger(Settings(database_url=url))  # type: ignore[arg-type]
    try:
        ledger.execute(ReceiveErpOrder(an_order("T-1"), integration="erp"), ERP)
    finally:
        ledger.close()
    api = api_server(url)
    refused = api.post("operator", f"{OP}/start", {"at": "2020-01-06T06:00:00+00:00"})
    history = api.get("auditor", "/orders/T-1/history").json()["entries"]
    now = datetime.now(UTC)
    started = api.post("operator", f"{OP}/start", {"at": at(2, now)})
    paused = api.post("operator", f"{OP}/pause", {"reason_code": "tooling", "at": at(1, now)})
    # the queued resume replayed late names a time before the pause it follows
    resumed = api.post("operator", f"{OP}/resume", {"at": at(1.5, now)})
    done = api.post("operator", f"{OP}/complete", {"at": at(0, now)})
    api.close()

    receiver = Receiver().start()
    try:
        destination = {"name": "erp-rest", "transport": "rest", "url": receiver.url,
                       "batch_url": receiver.batch_url, "batch_size": 10}  # fmt: skip
        cfg = config(tmp_path, [destination])
        cli = Cli(url, {"FLOORLEDGER_CONFIG": str(write_config(tmp_path / "p.toml", cfg))})
        run = cli.run("writeback", "run", "--once")
        assert run.returncode == 0, run.stdout + run.stderr
        sent = {
            m["event"]: m["data"]["timing"]["actual_seconds"]
            for m in receiver.applied.values()
            if "timing" in m.get("data", {})
        }
    finally:
        receiver.stop()
    wall = 2 * 3600
    counts(
        f"back-dated floor times ({store})",
        refused=(refused.status_code, refused.json().get("field")),
        recorded_after_refusal=len(history),
        start_warnings=started.json().get("warnings"),
        statuses=[r.status_code for r in (started, paused, resumed, done)],
        run_seconds_sent=sent,
        wall_seconds_since_first_start=wall,
        unbounded_would_be=1 * 3600 + 1.5 * 3600,
    )
    assert refused.status_code == 422
    assert (refused.json()["field"], refused.json()["value"]) == ("at", "2020-01-06T06:00:00+00:00")
    assert [e["event"] for e in history] == ["Released"]
    assert [r.status_code for r in (started, paused, resumed, done)] == [200] * 4
    assert started.json()["warnings"] == ["backdated"]
    assert paused.json()["warnings"] == []  # one open backdated warning per operation
    assert float(sent["OperationPaused"]) == pytest.approx(3600, abs=1)
    assert float(sent["OperationCompleted"]) <= wall + 1
    assert float(sent["OperationCompleted"]) == pytest.approx(wall, abs=1)
