"""Browser tests: Debian's Chromium (never a downloaded browser) driven by Playwright against
a real ``floorledger serve`` subprocess, with the writeback pump beside it, on SQLite and on
PostgreSQL. The browser reaches the server through a TCP proxy a test can cut.

Set FLOORLEDGER_SCREENSHOTS=docs/images to save the pages shown in docs/operator-tools.md
(``make screenshots``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PG_DSN, pg_schema
from tests.support.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = os.environ.get("FLOORLEDGER_SCREENSHOTS", "")

CONFIG = """
[[integrations]]
name = "plant"
mode = "E"

[integrations.inbound]
transport = "files"
format = "csv"
pattern = "*.csv"
inbox = "{tmp}/in"
archive = "{tmp}/archive"
error = "{tmp}/error"

[integrations.reasons]
csv = "{tmp}/reasons.csv"

[integrations.reasons.stop]
MAT = "Waiting for material"
TOOL = "Tool change"

[integrations.reasons.scrap]
BURR = "Burr on edge"

[integrations.outbound]
poll_seconds = 0.5

[[integrations.outbound.destinations]]
name = "erp-files"
transport = "files"
format = "csv"
outbox = "{tmp}/outbox"
"""

REASONS_CSV = "kind,code,label\nstop,SETUP,Setting up\nscrap,DIM,Out of tolerance\n"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, headless; nothing is downloaded."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A landscape tablet."""
    return {**browser_context_args, "viewport": {"width": 1024, "height": 768}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or predicate}")


@dataclass
class Plant:
    """A running floorledger (API + writeback pump) with tokens and operators to use."""

    backend: str
    url: str  # through the proxy: what the browser uses
    direct: str  # straight to the server: what the test uses
    proxy: TcpProxy
    tmp: Path
    tokens: dict[str, str] = field(default_factory=dict)
    database_url: str = ""  # the store behind the server (office tests alter it with SQL)

    def call(
        self, method: str, path: str, who: str, json: Any = None, **params: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.request(
            method, self.direct + path, headers=headers, json=json, params=params, timeout=10
        )

    def release(
        self, order_no: str, work_centre: str = "SAW-1", quantity: str = "50", **extra: Any
    ) -> int:
        """The ERP pushes a released order with one operation at ``work_centre``."""
        body = {
            "order_no": order_no,
            "part_no": "BRK-200",
            "description": "Mounting bracket",
            "quantity": quantity,
            "unit": "pcs",
            "due_date": "2026-12-20",
            "priority": 1,
            "routing": [
                {"op_id": "10", "name": "Saw", "work_centre": work_centre,
                 "setup_time": "15", "run_time_per_unit": "0.5"},
            ],
            **extra,
        }  # fmt: skip
        r = self.call("POST", "/erp/orders", "erp", body, integration="plant")
        assert r.status_code == 200, r.text
        return int(r.json()["position"])

    def history(self, order_no: str) -> list[dict[str, Any]]:
        r = self.call("GET", f"/orders/{order_no}/history", "audrey", integration="plant")
        assert r.status_code == 200, r.text
        entries: list[dict[str, Any]] = r.json()["entries"]
        return entries


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", *args],
        cwd=log.parent, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def plant(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Plant]:
    """floorledger serve + writeback run on a fresh store, the example tokens and operators:
    supervisor sven, auditor audrey, ERP push erp; operators anna (badge 1001, PIN 1234) and
    ben (PIN 4321)."""
    tmp = tmp_path_factory.mktemp(f"plant-{request.param}")
    with contextlib.ExitStack() as cleanup:  # the PostgreSQL schema, dropped at the end
        if request.param == "sqlite":
            url = f"sqlite:///{tmp / 'ledger.db'}"
        else:
            url = f"{PG_DSN}?schema={cleanup.enter_context(pg_schema('b_'))}"
        # a test module may add to the integration file (e.g. a REST destination of its own)
        extra = getattr(request.module, "plant_extra_config", None)
        config = CONFIG.format(tmp=tmp) + (extra(tmp) if extra is not None else "")
        (tmp / "floorledger.toml").write_text(config)
        (tmp / "reasons.csv").write_text(REASONS_CSV)
        for d in ("in", "archive", "error", "outbox"):
            (tmp / d).mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOORLEDGER_")}
        env.update(
            PYTHONPATH=str(ROOT),
            FLOORLEDGER_DATABASE_URL=url,
            FLOORLEDGER_CONFIG=str(tmp / "floorledger.toml"),
            FLOORLEDGER_DEFAULT_INTEGRATION="plant",
        )
        from adapters.settings import Settings
        from adapters.terminals import TerminalStore
        from adapters.tokens import TokenStore

        settings = Settings(database_url=url)  # type: ignore[arg-type]
        tokens, terminals = TokenStore(settings, cache_seconds=0), TerminalStore(settings)
        secrets = {}
        for name, role in (("sven", "supervisor"), ("audrey", "auditor"), ("erp", "integration")):
            _, secrets[name] = tokens.create(name, role)
        terminals.add_operator("anna", badge="1001", pin="1234")
        terminals.add_operator("ben", pin="4321")
        tokens.close()
        terminals.close()

        port = free_port()
        server = _start(["serve", "--port", str(port), "--no-access-log"], env, tmp / "serve.log")
        pump = _start(["writeback", "run"], env, tmp / "pump.log")
        proxy = TcpProxy(("127.0.0.1", port))
        proxy.start()
        direct = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(direct + "/health/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_for(ready, 60, "the server")
            # the pump beside it is running too (one that stopped at start fails here, not later)
            assert pump.poll() is None, (tmp / "pump.log").read_text()
            yield Plant(
                request.param, f"http://127.0.0.1:{proxy.port}", direct, proxy, tmp, secrets, url
            )
        finally:
            proxy.stop()
            _stop(server)
            _stop(pump)


def shot(page: Any, plant: Plant, name: str, element: Any = None) -> None:
    """Save the page (or one element of it) for the docs when FLOORLEDGER_SCREENSHOTS names a
    folder (SQLite run)."""
    if SCREENSHOTS and plant.backend == "sqlite":
        folder = Path(SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        if element is not None:
            element.screenshot(path=str(folder / f"{name}.png"))
            return
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(folder / f"{name}.png"))


def sign_in_terminal(page: Any, plant: Plant, name: str, work_centres: str) -> None:
    """A supervisor signs this browser in as a terminal."""
    page.goto(plant.url + "/terminal")
    page.get_by_label("Supervisor token").fill(plant.tokens["sven"])
    page.get_by_label("Terminal name").fill(name)
    page.get_by_label("Work centres (comma-separated)").fill(work_centres)
    shot(page, plant, "01-terminal-sign-in")
    page.get_by_role("button", name="Sign in terminal").click()
    page.get_by_role("heading", name="Sign on").wait_for()


def sign_on_with_badge(page: Any, badge: str) -> None:
    page.get_by_label("Scan or type your badge").fill(badge)
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Sign off").wait_for()


def sign_on_with_pin(page: Any, name: str, pin: str) -> None:
    page.locator("label.chip", has_text=name).click()
    for digit in pin:
        page.get_by_role("button", name=digit, exact=True).click()
    page.get_by_role("button", name="Sign on with PIN").click()
    page.get_by_role("button", name="Sign off").wait_for()


def sign_off(page: Any) -> None:
    page.get_by_role("button", name="Sign off").click()
    page.get_by_role("heading", name="Sign on").wait_for()
