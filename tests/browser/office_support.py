"""What the office browser test modules share: the plant's REST ERP destination (a receiver
on loopback that can refuse orders), signing in and out, floor actions, parking an order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Plant, wait_for
from tests.support.writeback_receiver import Receiver

RECEIVERS: list[Receiver] = []  # the ERP's REST service of each plant (destination erp-rest)


def plant_extra_config(tmp: Path) -> str:
    """The plant's second ERP destination: a fresh REST receiver on loopback (a plant on
    another store sends the same idempotency keys again)."""
    RECEIVERS.append(Receiver().start())
    for d in ("d-in", "d-archive", "d-error"):
        (tmp / d).mkdir()
    return f'''
[[integrations.outbound.destinations]]
name = "erp-rest"
transport = "rest"
url = "{RECEIVERS[-1].url}"

[integrations.outbound.destinations.retry]
attempts = 1

[[integrations]]
name = "dplant"
mode = "D"

[integrations.inbound]
transport = "files"
format = "csv"
pattern = "*.csv"
inbox = "{tmp}/d-in"
archive = "{tmp}/d-archive"
error = "{tmp}/d-error"
'''


@pytest.fixture(scope="module", autouse=True)
def receivers_stop() -> Iterator[None]:
    """Stop the receivers the module's plants started (import it into the test module)."""
    yield
    while RECEIVERS:
        RECEIVERS.pop().stop()


def office_sign_in(page: Page, plant: Plant, who: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(plant.url + "/office")
    expect(page.get_by_role("heading", name="Sign in to the office pages")).to_be_visible()
    page.get_by_label("Your token").fill(plant.tokens[who])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".who")).to_contain_text(who)


def office_sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to the office pages")).to_be_visible()


def floor(
    plant: Plant, order_no: str, action: str, at: datetime, integration: str = "plant", **body: Any
) -> int:
    r = plant.call(
        "POST", f"/orders/{order_no}/operations/10/{action}", "sven",
        {"at": at.isoformat(), **body}, integration=integration,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    return int(r.json()["position"])


def park(plant: Plant, order_no: str) -> Receiver:
    """A report on ``order_no`` triggered to the ERP, which refuses it: the order is parked
    at erp-rest with its warning. Returns the refusing receiver."""
    now = datetime.now(UTC).replace(microsecond=0)
    plant.release(order_no)
    floor(plant, order_no, "start", now - timedelta(minutes=20))
    body = {
        "started_at": (now - timedelta(minutes=20)).isoformat(),
        "ended_at": (now - timedelta(minutes=5)).isoformat(),
        "good": "3",
        "report_id": "R1",
    }
    path = f"/orders/{order_no}/operations/10/reports"
    r = plant.call("POST", path, "sven", body, integration="plant")
    assert r.status_code == 200, r.text
    receiver = RECEIVERS[-1]
    receiver.refuse_orders.add(order_no)
    r = plant.call("POST", f"/writeback/orders/{order_no}/reports/R1/trigger", "sven", {},
                   integration="plant")  # fmt: skip
    assert r.status_code == 200, r.text
    wait_for(lambda: parked(plant, order_no), 30, f"{order_no} to be parked")
    return receiver


def parked(plant: Plant, order_no: str) -> list[Any]:
    r = plant.call("GET", "/writeback/destinations/erp-rest", "sven")
    return [p for p in r.json()["parked"] if p["order_no"] == order_no]
