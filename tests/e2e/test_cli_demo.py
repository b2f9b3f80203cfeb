"""The demo a new user runs first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FLOORLEDGER_DATABASE_URL=f"sqlite:///{db}")
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_the_demo_prints_the_orders_history_with_conflict_and_resolution(tmp_path: Path) -> None:
    result = run_cli("demo", db=tmp_path / "demo.db")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        "released by the ERP",
        "paused (MAT-WAIT)",
        "scrap 2 (BURR)",
        "serial SN-0001",
        "conflict on quantity",
        "kept the floor value 50",
    ):
        assert expected in out


def test_history_as_json_lists_every_event_of_the_demo_order(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    run_cli("demo", db=db)
    verify = run_cli("audit", "verify", db=db)
    assert verify.returncode == 0
    import sqlite3

    with sqlite3.connect(db) as conn:
        state = conn.execute("SELECT CAST(state AS TEXT) FROM stored_events LIMIT 1").fetchone()[0]
    order_no = json.loads(state)["order_no"]
    result = run_cli("history", order_no, "--integration", "demo", "--json", db=db)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows[0]["event"] == "Released" and rows[0]["source"] == "erp:demo"
    assert [r["version"] for r in rows] == list(range(1, len(rows) + 1))
    assert {"anna", "sam", "demo-erp"} == {r["actor_id"] for r in rows}


def test_history_of_an_unknown_order_says_so_and_exits_non_zero(tmp_path: Path) -> None:
    result = run_cli("history", "NOPE-1", db=tmp_path / "x.db")
    assert result.returncode == 1
    assert "'NOPE-1'" in result.stderr
