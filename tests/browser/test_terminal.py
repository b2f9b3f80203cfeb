"""The work-centre terminal in a real browser against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    Plant,
    shot,
    sign_in_terminal,
    sign_off,
    sign_on_with_badge,
    sign_on_with_pin,
    wait_for,
)


def settled(page: Page, action: Callable[[], Any]) -> None:
    """Do ``action`` and wait for the reload that follows once the server recorded it."""
    with page.expect_navigation(timeout=15_000):
        action()


def choose(page: Page, order_no: str) -> None:
    """Pick an order's operation in the queue (reloading while the views catch up)."""
    link = page.locator("a.qitem", has_text=order_no)
    for _ in range(50):
        if link.count():
            break
        page.wait_for_timeout(200)
        page.reload()
    link.first.click()
    expect(page.locator("#panel-h")).to_contain_text(order_no)


def reload_after(page: Page, position: int) -> None:
    """Reload once the server's views include ledger ``position`` (read your writes)."""
    url = page.url.split("&wait=")[0]
    page.goto(url + ("&" if "?" in url else "?") + f"wait={position}")


def kept_actions(page: Page) -> list[Any] | None:
    """The actions the page keeps (None while it is reloading)."""
    try:
        kept: list[Any] = json.loads(
            page.evaluate("localStorage.getItem('floorledger.pending') || '[]'")
        )
    except PlaywrightError:
        return None
    return kept


def type_quantity(page: Page, digits: str) -> None:
    pad = page.locator('[data-pad="qty"]')
    for d in digits:
        pad.get_by_role("button", name=d, exact=True).click()


def events(plant: Plant, order_no: str, *names: str) -> list[dict[str, Any]]:
    return [e for e in plant.history(order_no) if not names or e["event"] in names]


def test_two_operators_work_an_order_from_start_to_a_report_the_erp_receives(
    page: Page, plant: Plant
) -> None:
    plant.release("WO-B1")
    plant.release("WO-B1L", work_centre="LASER-1")
    sign_in_terminal(page, plant, "Saw terminal", "SAW-1")
    shot(page, plant, "02-sign-on")
    expect(page.locator("#who")).to_contain_text("nobody")
    sign_on_with_badge(page, "1001")
    expect(page.locator("#who")).to_contain_text("anna")
    # the queue shows only SAW-1's work, with quantity, due date and standard times
    queue = page.locator("nav.queue")
    expect(queue).to_contain_text("WO-B1")
    expect(queue).not_to_contain_text("WO-B1L")
    expect(queue).to_contain_text("setup 15 min + 0.5 min/pcs = 40 min")
    # with the page's own session: LASER-1 is out of this terminal's scope; no CSRF, no write
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    laser = plant.url + "/orders/WO-B1L/operations/10/start?integration=plant"
    refused = page.request.post(laser, data={}, headers={"X-CSRF-Token": token})
    assert refused.status == 403 and "LASER-1" in refused.json()["detail"]
    saw = plant.url + "/orders/WO-B1/operations/10/start?integration=plant"
    assert page.request.post(saw, data={}).status == 403  # without the CSRF header
    assert events(plant, "WO-B1L", "OperationStarted") == []
    assert events(plant, "WO-B1", "OperationStarted") == []
    choose(page, "WO-B1")

    settled(page, lambda: page.get_by_role("button", name="Start").click())
    expect(page.locator("#op-state")).to_have_text("running")
    page.get_by_role("button", name="Pause").click()
    shot(page, plant, "04-pause-reason")
    settled(page, lambda: page.get_by_role("button", name="Waiting for material").click())
    expect(page.locator("#op-state")).to_have_text("paused")
    expect(page.locator(".sub")).to_contain_text("Waiting for material")
    expect(page.locator("#history")).to_contain_text("anna paused: Waiting for material")

    sign_off(page)
    sign_on_with_pin(page, "ben", "4321")
    expect(page.locator("#who")).to_contain_text("ben")
    expect(page.locator("#panel-h")).to_contain_text("WO-B1")  # the paused one is chosen
    settled(page, lambda: page.get_by_role("button", name="Resume").click())
    type_quantity(page, "40")
    settled(page, lambda: page.get_by_role("button", name="Good", exact=True).click())
    expect(page.locator("#good")).to_have_text("40")
    type_quantity(page, "2")
    page.get_by_role("button", name="Scrap…").click()
    settled(page, lambda: page.get_by_role("button", name="Burr on edge").click())
    expect(page.locator("#scrap")).to_have_text("2")
    expect(page.locator(".fig", has_text="Scrap")).to_contain_text("Burr on edge 2")

    # a keyboard-wedge scanner: characters then Enter, with no field focused
    page.evaluate("document.activeElement && document.activeElement.blur()")
    settled(page, lambda: page.keyboard.type("SN-0042\n"))
    page.get_by_label("Characteristic").fill("length")
    page.get_by_label("Measured value").fill("120.1")
    page.get_by_label("Unit").fill("mm")
    settled(page, lambda: page.get_by_role("button", name="Record result").click())
    shot(page, plant, "03-terminal-work")

    page.get_by_role("button", name="Report").click()
    dialog = page.locator("#report-dialog")
    expect(dialog.get_by_label("Good")).to_have_value("40")
    expect(dialog.get_by_label("Burr on edge")).to_have_value("2")
    shot(page, plant, "05-report")
    settled(page, lambda: dialog.get_by_role("button", name="Submit report").click())
    expect(page.locator("#receipt")).to_contain_text("ERP received the report", timeout=20_000)
    shot(page, plant, "06-report-received")
    outbox = plant.tmp / "outbox"
    wait_for(lambda: any("WO-B1" in p.read_text() for p in outbox.iterdir()), what="the file")
    settled(page, lambda: page.get_by_role("button", name="Complete").click())
    expect(page.locator("nav.queue")).not_to_contain_text("WO-B1 ")

    floor = [e for e in events(plant, "WO-B1") if e["actor_role"] != "integration"]
    who = [(e["event"], e["actor_id"]) for e in floor]
    assert who == [
        ("OperationStarted", "anna"),
        ("OperationPaused", "anna"),
        ("OperationResumed", "ben"),
        ("QuantityReported", "ben"),
        ("QuantityReported", "ben"),
        ("ResultRecorded", "ben"),
        ("ResultRecorded", "ben"),
        ("ReportSubmitted", "ben"),
        ("ReportTriggered", "ben"),
        ("OperationCompleted", "ben"),
    ]
    paused = events(plant, "WO-B1", "OperationPaused")[0]
    assert paused["details"]["reason_code"] == "MAT"
    serial = events(plant, "WO-B1", "ResultRecorded")[0]
    assert serial["details"]["serial"] == "SN-0042"
    report = events(plant, "WO-B1", "ReportSubmitted")[0]["details"]
    assert (report["good"], report["scrap"]) == ("40", {"BURR": "2"})


def test_actions_taken_while_the_server_is_unreachable_are_recorded_once_in_order_with_their_times(
    page: Page, plant: Plant
) -> None:
    plant.release("WO-B2")
    sign_in_terminal(page, plant, "Saw terminal 2", "SAW-1")
    sign_on_with_badge(page, "1001")
    choose(page, "WO-B2")
    settled(page, lambda: page.get_by_role("button", name="Start").click())

    plant.proxy.stop()  # the network to the server drops
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Tool change").click()
    expect(page.locator("#net")).to_contain_text("Offline")
    page.get_by_role("button", name="Resume").click()
    type_quantity(page, "5")
    page.get_by_role("button", name="Good", exact=True).click()
    expect(page.locator("#pending")).to_have_text("3 actions waiting")
    expect(page.locator("#waiting li")).to_have_count(3)
    shot(page, plant, "07-offline")
    kept = json.loads(page.evaluate("localStorage.getItem('floorledger.pending')"))
    assert [k["path"].split("?")[0].rsplit("/", 1)[1] for k in kept] == [
        "pause",
        "resume",
        "quantities",
    ]

    with page.expect_navigation(timeout=20_000):
        plant.proxy.start()  # it comes back; the page sends what it kept, then reloads
    expect(page.locator("#pending")).to_be_hidden()
    expect(page.locator("#good")).to_have_text("5")

    recorded = events(plant, "WO-B2", "OperationPaused", "OperationResumed", "QuantityReported")
    assert [e["event"] for e in recorded] == [
        "OperationPaused",
        "OperationResumed",
        "QuantityReported",
    ]
    for event, action in zip(recorded, kept, strict=True):
        assert datetime.fromisoformat(event["occurred_at"]) == datetime.fromisoformat(
            action["at"].replace("Z", "+00:00")
        )
        assert event["actor_id"] == "anna"

    # the same kept actions sent again (as after a lost answer) record nothing more
    total = len(plant.history("WO-B2"))
    page.evaluate(f"localStorage.setItem('floorledger.pending', {json.dumps(json.dumps(kept))})")
    page.reload()
    wait_for(lambda: kept_actions(page) == [], what="the kept actions to be sent")
    assert len(plant.history("WO-B2")) == total


def test_an_erp_quantity_change_and_a_cancellation_show_on_the_terminal_which_still_records(
    page: Page, plant: Plant
) -> None:
    plant.release("WO-B3")
    sign_in_terminal(page, plant, "Saw terminal 3", "SAW-1")
    sign_on_with_badge(page, "1001")
    choose(page, "WO-B3")
    settled(page, lambda: page.get_by_role("button", name="Start").click())

    changed = plant.release("WO-B3", quantity="60")  # the planner changes the running order
    reload_after(page, changed)
    expect(page.locator("#alerts")).to_contain_text(
        "ERP changed the quantity to 60 — supervisor reviewing"
    )
    expect(page.locator("a.qitem", has_text="WO-B3")).to_contain_text("supervisor reviewing")

    r = plant.call(
        "POST", "/erp/orders/WO-B3/cancellation", "erp", {"reason": "customer"}, integration="plant"
    )
    assert r.status_code == 200, r.text
    reload_after(page, r.json()["position"])
    expect(page.locator("#alerts")).to_contain_text(
        "ERP cancelled this order — supervisor reviewing"
    )
    expect(page.locator("a.qitem", has_text="WO-B3")).to_contain_text("Cancelled by ERP")
    r = plant.call(
        "POST", "/conflicts/WO-B3/status/resolution", "sven", {"resolution": "accept_erp"},
        integration="plant",
    )  # fmt: skip
    assert r.status_code == 200, r.text
    reload_after(page, r.json()["position"])
    expect(page.locator("#alerts")).to_contain_text("ERP cancelled this order — what you record")
    expect(page.locator("a.qitem", has_text="WO-B3")).to_contain_text("Cancelled by ERP")
    shot(page, plant, "08-cancelled-order")
    type_quantity(page, "51")
    settled(page, lambda: page.get_by_role("button", name="Good", exact=True).click())
    expect(page.locator("#flash")).to_contain_text("order cancelled")
    expect(page.locator("#flash")).to_contain_text("over quantity")
    expect(page.locator("#alerts")).to_contain_text("Over quantity")
    expect(page.locator("#good")).to_have_text("51")
    assert events(plant, "WO-B3", "QuantityReported")[0]["actor_id"] == "anna"


def tab_to(page: Page, text: str) -> None:
    """Press Tab until the focused element shows ``text`` (or has the id ``#text``)."""
    seen = []
    for _ in range(120):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "'#' + document.activeElement.id + ' ' + (document.activeElement.innerText || '')"
        )
        seen.append(focused[:30])
        if (text.startswith("#") and focused.startswith(text + " ")) or (
            not text.startswith("#") and text in focused
        ):
            return
    raise AssertionError(f"Tab never reached {text!r}: {seen[:40]}")


def test_an_operator_signs_on_and_works_with_the_keyboard_only(page: Page, plant: Plant) -> None:
    plant.release("WO-B4")
    sign_in_terminal(page, plant, "Saw terminal 4", "SAW-1")
    tab_to(page, "#badge")
    page.keyboard.type("1001")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    choose_with_keys = page.locator("a.qitem", has_text="WO-B4")
    for _ in range(50):
        if choose_with_keys.count():
            break
        page.wait_for_timeout(200)
        page.reload()
    tab_to(page, "WO-B4")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(page, "Start")
    settled(page, lambda: page.keyboard.press("Enter"))
    tab_to(page, "Pause")
    page.keyboard.press("Enter")  # the reason picker opens with the first reason focused
    expect(page.locator("#pause-dialog")).to_be_visible()
    settled(page, lambda: page.keyboard.press("Enter"))
    expect(page.locator("#op-state")).to_have_text("paused")
    paused = events(plant, "WO-B4", "OperationPaused")
    assert [(e["actor_id"], e["details"]["reason_code"]) for e in paused] == [("anna", "MAT")]
