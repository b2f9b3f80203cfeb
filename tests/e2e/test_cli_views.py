"""The views CLI a planner or supervisor uses: plan, status, report script, rebuild."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import openpyxl

from tests.e2e.test_cli_demo import ROOT, run_cli


def _demo(db: Path) -> str:
    assert run_cli("demo", db=db).returncode == 0
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT json_extract(CAST(state AS TEXT), '$.order_no') FROM stored_events LIMIT 1"
        ).fetchone()
    return str(row[0])


def test_plan_status_and_report_script_show_the_demo_shift(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    order_no = _demo(db)
    plan = run_cli("plan", "COAT-1", db=db)
    assert plan.returncode == 0, plan.stderr
    assert order_no in plan.stdout and "running" in plan.stdout
    status = run_cli("status", order_no, "--integration", "demo", db=db)
    assert status.returncode == 0, status.stderr
    assert "scrap BURR 2" in status.stdout and "in_progress" in status.stdout
    out = tmp_path / "script.xlsx"
    export = run_cli("report-script", "--format", "xlsx", "--out", str(out), db=db)
    assert export.returncode == 0, export.stderr
    rows = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    assert len(rows) == 1 + 3  # header, two completed operations and one report
    assert {r[rows[0].index("order_no")] for r in rows[1:]} == {order_no}


def test_views_rebuild_reports_events_per_second_and_views_status_shows_no_lag(
    tmp_path: Path,
) -> None:
    db = tmp_path / "v.db"
    _demo(db)
    before = run_cli("views", "status", db=db)
    assert "14" in before.stdout
    rebuilt = run_cli("views", "rebuild", db=db)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "events/s" in rebuilt.stdout
    after = run_cli("views", "status", db=db)
    lags = [line.split("│")[3].strip() for line in after.stdout.splitlines() if "│" in line]
    assert lags and set(lags) == {"0"}


def test_an_unknown_view_or_order_is_named_in_the_error(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    _demo(db)
    bad = run_cli("views", "rebuild", "nope", db=db)
    assert bad.returncode == 2 and "'nope'" in bad.stderr
    missing = run_cli("status", "WO-404", db=db)
    assert missing.returncode == 1 and "'WO-404'" in missing.stderr


def test_views_run_follows_only_the_named_views(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.e2e.test_cli_demo import ROOT

    db = tmp_path / "v.db"
    _demo(db)
    env = dict(os.environ, FLOORLEDGER_DATABASE_URL=f"sqlite:///{db}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "views", "run", "status"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lags = {
                line.split("│")[1].strip(): line.split("│")[3].strip()
                for line in run_cli("views", "status", db=db).stdout.splitlines()
                if line.count("│") >= 4
            }
            if lags.get("status") == "0":
                break
            time.sleep(0.2)
        assert lags["status"] == "0"
        assert lags["plan"] == "14"  # not followed
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def test_the_rebuild_progress_bar_knows_its_total_from_the_first_frame(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    _demo(db)
    env = dict(os.environ, FLOORLEDGER_DATABASE_URL=f"sqlite:///{db}", TTY_COMPATIBLE="1")
    rebuilt = subprocess.run(
        [sys.executable, "-m", "api.cli", "views", "rebuild", "plan"],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    frames = rebuilt.stdout.split("\r")
    assert any("0/14" in f for f in frames[:3]), frames[:3]  # rendered as a terminal would
    assert "None" not in rebuilt.stdout


def test_a_bad_view_cache_bound_is_named_with_its_value_and_nothing_is_rebuilt(
    tmp_path: Path,
) -> None:
    db = tmp_path / "v.db"
    _demo(db)
    env = dict(os.environ, FLOORLEDGER_DATABASE_URL=f"sqlite:///{db}")
    env["FLOORLEDGER_VIEW_CACHE_ORDERS"] = "-5"
    bad = subprocess.run(
        [sys.executable, "-m", "api.cli", "views", "rebuild"],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "FLOORLEDGER_VIEW_CACHE_ORDERS" in bad.stderr and "-5" in bad.stderr
    assert "events/s" not in bad.stdout
    env["FLOORLEDGER_VIEW_CACHE_ORDERS"] = "3"
    small = subprocess.run(
        [sys.executable, "-m", "api.cli", "views", "rebuild"],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert small.returncode == 0, small.stderr
    assert "events/s" in small.stdout
