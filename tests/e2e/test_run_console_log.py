"""`floorledger run` logs what its workers do, one line each, and is quiet when idle; the
README's API step works on it as printed (#18)."""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.test_main_job import ROOT, free_port, wait_for


def test_run_logs_each_release_and_conflict_and_the_readme_api_step_works_as_printed(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "examples" / "file-drop", tmp_path / "examples" / "file-drop")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOORLEDGER_")}
    out = tmp_path / "run.log"
    log = out.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "run", "--port", str(port)],
        cwd=tmp_path, env=dict(env, PYTHONPATH=str(ROOT)), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: "order WO-2001 released" in out.read_text())
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/health/live"))  # the API is up too
        secret = re.search(r"operator\s+Bearer (\S+)", out.read_text())
        assert secret is not None
        auth = {"Authorization": f"Bearer {secret.group(1)}"}
        # the README's API step, as printed (no body: Swagger's "Try it out" may send none)
        readme_step = re.search(r"`POST (/orders/\S+/start\S*)`", (ROOT / "README.md").read_text())
        assert readme_step is not None
        started = httpx.post(f"http://127.0.0.1:{port}{readme_step.group(1)}", headers=auth)
        assert started.status_code == 200, started.text
        # the ERP lowers the quantity of the started order: a conflict, logged
        plan = tmp_path / "var" / "erp" / "in-csv" / "change.csv"
        source = tmp_path / "examples" / "file-drop" / "plans" / "weekly-plan.csv"
        with source.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["order_no"] == "WO-2001"]
        with plan.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({**r, "quantity": "70"} for r in rows)
        wait_for(lambda: "order WO-2001 conflict raised" in out.read_text())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        log.close()
    text = out.read_text()
    released = [line for line in text.splitlines() if "released" in line and "order WO-" in line]
    assert any("order WO-3001 released" in line for line in released)
    # idle passes (nothing new) are not logged at info: at most one counts line per busy pass
    counts = [line for line in text.splitlines() if re.search(r"sync erp-csv: \d+ released", line)]
    assert len(counts) <= 3, counts


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
