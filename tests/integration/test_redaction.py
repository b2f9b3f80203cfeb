"""Credentials in URLs never reach operators: writeback status (API and CLI), parked reasons,
the warnings they raise, and sync errors show them masked — against real HTTP servers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adapters.config import parse_config
from adapters.inbound.worker import run_once as sync_once
from adapters.writeback.pump import Pump
from api.app import create_app
from api.cli import app as cli_app
from tests.conftest import Backend
from tests.e2e.conftest import api_settings
from tests.support.writeback import config, work_order, write_config

SECRET = "pw-7f3a9c"
LEAKY = f"https://svc:{SECRET}@erp.internal/api?page=2&session={SECRET}"


class LeakyErp:
    """An ERP that answers every request with ``status`` and an error echoing ``LEAKY``."""

    def __init__(self, status: int, body: Any) -> None:
        erp = self
        self.status, self.body = status, body

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                data = json.dumps(erp.body).encode()
                self.send_response(erp.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def erp_500() -> Iterator[LeakyErp]:
    erp = LeakyErp(500, {"error": f"upstream {LEAKY} failed"})
    yield erp
    erp.close()


def test_writeback_errors_and_parked_reasons_are_shown_with_credentials_masked(
    tmp_path: Path, backend: Backend, erp_500: LeakyErp, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusing = LeakyErp(422, {"error": f"order refused, see {LEAKY}"})
    dests = [
        {"name": "erp-down", "transport": "rest", "url": f"{erp_500.url}/events",
         "retry": {"attempts": 1}},
        {"name": "erp-refuses", "transport": "rest", "url": f"{refusing.url}/events",
         "retry": {"attempts": 1}},
    ]  # fmt: skip
    cfg = config(tmp_path, dests)
    monkeypatch.setenv("FLOORLEDGER_CONFIG", str(write_config(tmp_path / "plant.toml", cfg)))
    monkeypatch.setenv("FLOORLEDGER_DATABASE_URL", backend.url)
    ledger = backend.ledger()
    pump = Pump(ledger, cfg)
    try:
        work_order(ledger, "R-1")
        pump.run_once()
    finally:
        pump.close()
        refusing.close()
        ledger.close()

    with TestClient(create_app(api_settings(backend.url))) as client:
        _, token = client.app.state.runtime.tokens.create("sven", "supervisor")  # type: ignore[attr-defined]
        auth = {"Authorization": f"Bearer {token}"}
        shown = client.get("/writeback/destinations", headers=auth)
        assert shown.status_code == 200, shown.text
        warnings = client.get("/warnings", headers=auth)
    by_name = {d["destination"]: d for d in shown.json()}
    assert "svc:***@erp.internal" in by_name["erp-down"]["last_error"]
    assert "session=***" in by_name["erp-down"]["last_error"]
    (parked,) = by_name["erp-refuses"]["parked"]
    assert "svc:***@erp.internal" in parked["reason"]
    assert SECRET not in shown.text
    assert "svc:***@" in warnings.text and SECRET not in warnings.text

    cli = CliRunner().invoke(cli_app, ["writeback", "status", "--json"])
    assert cli.exit_code == 0, cli.output
    assert "svc:***@erp.internal" in cli.output and SECRET not in cli.output


def test_a_sync_error_naming_an_erp_link_with_a_token_masks_it(
    tmp_path: Path, backend: Backend
) -> None:
    # the ERP's next-page link carries a token and leads nowhere reachable
    next_link = f"http://127.0.0.1:9/api/orders?page=2&access_token={SECRET}"
    erp = LeakyErp(200, {"items": [], "links": {"next": next_link}})
    cfg = parse_config(
        {
            "integrations": [
                {
                    "name": "erp",
                    "mode": "B",
                    "inbound": {
                        "transport": "rest",
                        "url": f"{erp.url}/api/orders",
                        "items_path": "items",
                        "timeout_seconds": 2,
                        "paging": {"mode": "next_link", "next_path": "links.next"},
                    },
                }
            ]
        }
    )
    ledger = backend.ledger()
    try:
        summaries = sync_once(cfg, ledger)
    finally:
        ledger.close()
        erp.close()
    errors = " ".join(e for s in summaries.values() for e in s.errors)
    assert "access_token=***" in errors
    assert SECRET not in errors
