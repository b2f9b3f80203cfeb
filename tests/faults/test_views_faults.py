"""A ``views rebuild`` killed mid-way while the API (with its view runner) is up: the running
API finishes the view without waiting for a new write, and ``wait_for_position`` answers."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from adapters.settings import Settings, build_ledger
from domain.commands import ReceiveErpOrder, ReportQuantity, StartOperation
from tests.faults.conftest import Cli, counts, sigkill, wait_until
from tests.support.floor import ERP, OPERATOR, at, order

ORDERS = 150


def _position(url: str, view: str) -> int:
    """The view's recorded position, read by a connection of our own (as an operator would)."""
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"), timeout=10)) as c:
            row = c.execute(
                "SELECT position FROM fl_view_tracking WHERE view = ?", (view,)
            ).fetchone()
        return int(row[0]) if row else -1
    base, _, schema = url.partition("?schema=")
    with psycopg.connect(base, autocommit=True, options=f"-c search_path={schema}") as conn:
        row = conn.execute(
            "SELECT position FROM fl_view_tracking WHERE view = %s", (view,)
        ).fetchone()
    return int(row[0]) if row else -1


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_a_killed_rebuild_is_finished_by_the_running_api_and_reads_wait_for_it(
    store_url: str, api_server: Any
) -> None:
    ledger = build_ledger(Settings(database_url=store_url))  # type: ignore[arg-type]
    try:
        for i in range(ORDERS):
            no = f"V{i:03d}"
            ledger.execute(ReceiveErpOrder(order(no, quantity=1000)), ERP)
            ledger.execute(StartOperation(no, "10", at=at(i)), OPERATOR)
            for g in (3, 4):
                ledger.execute(ReportQuantity(no, "10", good=g, at=at(i + 1)), OPERATOR)
        head = int(ledger.recorder.max_notification_id())
    finally:
        ledger.close()

    api = api_server(store_url)
    last = f"V{ORDERS - 1:03d}"
    first = api.get("auditor", f"/orders/{last}/status", wait_for_position=head, wait_seconds=60)
    assert first.status_code == 200, first.text

    rebuild = Cli(store_url).spawn("views", "rebuild", "status", "--batch-size", "10")
    try:
        wait_until(
            lambda: 0 < _position(store_url, "status") < head // 2, 60, "the rebuild is under way",
            step=0.002,
        )  # fmt: skip
    finally:
        sigkill(rebuild)
    killed_at = _position(store_url, "status")

    start = time.monotonic()
    r = api.get("auditor", f"/orders/{last}/status", wait_for_position=head, wait_seconds=60)
    waited = time.monotonic() - start
    assert r.status_code == 200, r.text
    good, missing = Decimal(0), []
    for i in range(ORDERS):
        s = api.get("auditor", f"/orders/V{i:03d}/status")
        if s.status_code != 200:
            missing.append(i)
            continue
        good += Decimal(str(s.json()["good"]))
    ready = api.get("auditor", "/health/ready").json()
    counts(
        "killed views rebuild",
        events=head,
        position_at_kill=killed_at,
        wait_for_position_status=r.status_code,
        waited_seconds=round(waited, 2),
        orders_served=ORDERS - len(missing),
        good_total=good,
        expected_good=ORDERS * 7,
        view_lag=ready["view_lag"],
    )
    assert 0 < killed_at < head
    assert not missing and good == ORDERS * 7
    assert ready["view_positions"]["status"] == head
