"""`floorledger run` (the README's tour): a new user opens the printed terminal address and
works the example plans and the demo order in the browser, with no other tool."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import ROOT, free_port, wait_for


def test_the_main_job_prints_the_terminal_and_a_new_user_works_an_order_in_the_browser(
    page: Page, tmp_path: Path
) -> None:
    shutil.copytree(ROOT / "examples" / "file-drop", tmp_path / "examples" / "file-drop")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOORLEDGER_")}
    log = tmp_path / "run.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "run", "--port", str(port)],
        cwd=tmp_path, env=dict(env, PYTHONPATH=str(ROOT)), stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        printed = wait_for(
            lambda: re.search(r"demo operator anna: badge (\d+)", log.read_text()), 60, "run"
        )
        text = log.read_text()
        url = re.search(r"terminal\s+(http://\S+/terminal)", text)
        supervisor = re.search(r"supervisor\s+Bearer (\S+)", text)
        assert url and supervisor, text
        assert "sign it in with the supervisor token" in text
        office = re.search(r"office\s+(http://\S+/office)", text)  # issue #15
        assert office, text

        def listening() -> bool:
            try:
                return httpx.get(url.group(1).replace("/terminal", "/health/live")).is_success
            except httpx.HTTPError:
                return False

        wait_for(listening, 30, "the server")
        page.goto(url.group(1))
        page.get_by_label("Supervisor token").fill(supervisor.group(1))
        page.get_by_label("Work centres (comma-separated)").fill("SAW-1, COAT-1")
        page.get_by_role("button", name="Sign in terminal").click()
        page.get_by_label("Scan or type your badge").fill(printed.group(1))
        page.keyboard.press("Enter")
        queue = page.locator("nav.queue")
        for _ in range(100):  # the sync worker imports the ERP's files within seconds
            if "WO-2001" in queue.inner_text() and "WO-3001" in queue.inner_text():
                break
            page.wait_for_timeout(300)
            page.reload()
        expect(queue).to_contain_text("DEMO-")  # the demo order's coating, running
        page.locator("a.qitem", has_text="WO-2001").first.click()
        with page.expect_navigation():
            page.get_by_role("button", name="Start").click()
        expect(page.locator("#op-state")).to_have_text("running")
        page.get_by_role("button", name="Pause").click()  # the example's stop reasons
        with page.expect_navigation():
            page.get_by_role("button", name="Tool change").click()
        expect(page.locator("#op-state")).to_have_text("paused")
        outbox = tmp_path / "var" / "erp" / "performance"
        wait_for(
            lambda: [p for p in outbox.glob("*.xml") if "WO-2001" in p.read_text()],
            30,
            "the writeback file",
        )
        # the office pages, at the printed address, with the same supervisor token (in a
        # browser that is not a terminal: a terminal's browser gets the 403 page)
        page.context.clear_cookies()
        page.goto(office.group(1))
        page.get_by_label("Your token").fill(supervisor.group(1))
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Conflicts inbox")).to_be_visible()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
