"""`make run`: the API with the sync and writeback workers on the example file-drop ERP."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_the_main_job_imports_the_example_plans_serves_the_floor_and_writes_back(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "examples" / "file-drop", tmp_path / "examples" / "file-drop")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOORLEDGER_")}
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "run", "--port", str(port)],
        cwd=tmp_path, env=dict(env, PYTHONPATH=str(ROOT)), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def token() -> str | None:
            m = re.search(r"operator\s+Bearer (\S+)", (tmp_path / "run.log").read_text())
            return m.group(1) if m else None

        secret = wait_for(token)
        auth = {"Authorization": f"Bearer {secret}"}

        def planned() -> list[dict[str, str]] | None:
            try:
                r = httpx.get(f"{base}/work-centres/SAW-1/plan", headers=auth, timeout=2)
            except httpx.HTTPError:
                return None
            orders = {e["order_no"] for e in r.json().get("entries", [])}
            return r.json()["entries"] if {"WO-2001", "WO-3001"} <= orders else None

        entries = wait_for(planned)
        assert "WO-2003" not in {e["order_no"] for e in entries}  # still in planning in the ERP
        started = httpx.post(
            f"{base}/orders/WO-2001/operations/10/start",
            params={"integration": "erp-csv"}, json={}, headers=auth,
        )  # fmt: skip
        assert started.status_code == 200, started.text
        outbox = tmp_path / "var" / "erp" / "performance"

        def written() -> list[Path]:
            return [p for p in outbox.glob("*.xml") if "WO-2001" in p.read_text()]

        files = wait_for(written)
        assert "OperationStarted" in files[0].read_text()
        archived = {p.name for p in (tmp_path / "var" / "erp" / "archive").iterdir()}
        assert archived == {"weekly-plan.csv", "production-schedule.xml"}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    assert proc.returncode == 0, (tmp_path / "run.log").read_text()
