"""The office pages in a real browser against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from playwright.sync_api import Page, expect

from tests.browser.conftest import Plant, shot, wait_for
from tests.browser.office_support import (
    RECEIVERS,
    floor,
    office_sign_in,
    office_sign_out,
    park,
    parked,
    plant_extra_config,
    receivers_stop,
)
from tests.conftest import PG_DSN

__all__ = ["plant_extra_config", "receivers_stop"]  # the plant fixture reads the first


def alter_stored_event(plant: Plant, version: int) -> None:
    """Change a stored QuantityReported event's good amount behind the ledger's back."""
    if plant.backend == "sqlite":
        import sqlite3

        read, write, table = "CAST(state AS TEXT)", "CAST({} AS BLOB)", "stored_events"
        sql = f"UPDATE {table} SET state = " + write.format(
            f'replace({read}, \'"_data_":"5"\', \'"_data_":"50"\')'
        )
        sql += f" WHERE originator_version = {version} AND topic LIKE '%QuantityReported'"
        with sqlite3.connect(plant.database_url.removeprefix("sqlite:///")) as conn:
            assert conn.execute(sql).rowcount == 1
        return
    schema = plant.database_url.split("schema=")[1]
    read, write = "convert_from(state, 'UTF8')", "convert_to({}, 'UTF8')"
    sql = f"UPDATE {schema}.ledger_events SET state = " + write.format(
        f'replace({read}, \'"_data_":"5"\', \'"_data_":"50"\')'
    )
    sql += f" WHERE originator_version = {version} AND topic LIKE '%QuantityReported'"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        assert conn.execute(sql).rowcount == 1  # type: ignore[arg-type]


def test_an_erp_change_to_a_running_order_is_settled_in_the_inbox_and_audited(
    page: Page, plant: Plant
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    started, paused, resumed = (now - timedelta(minutes=m) for m in (30, 20, 12))
    plant.release("WO-O1")
    floor(plant, "WO-O1", "start", started)
    floor(plant, "WO-O1", "pause", paused, reason_code="MAT")
    floor(plant, "WO-O1", "resume", resumed)
    floor(plant, "WO-O1", "quantities", resumed + timedelta(minutes=1), good="5")
    floor(plant, "WO-O1", "results", resumed + timedelta(minutes=2), serial="SN-0042", passed=True)

    office_sign_in(page, plant, "sven")
    expect(page.locator("#conflict-badge")).to_have_text("0")
    # the ERP raises the quantity of the running order: the badge counts it without a reload
    plant.release("WO-O1", quantity="60")
    expect(page.locator("#conflict-badge")).to_have_text("1", timeout=15_000)
    page.reload()
    card = page.locator("article.conflict", has_text="WO-O1")
    expect(card.locator('[data-side="erp"]')).to_have_text("60")
    expect(card.locator('[data-side="floor"]')).to_have_text("50")
    expect(card).to_contain_text("good 5")
    shot(page, plant, "11-office-conflicts")
    card.get_by_label("Note for WO-O1 quantity").fill("Customer ordered ten more")
    card.get_by_role("button", name="Accept ERP").click()
    expect(page.get_by_role("status")).to_contain_text("WO-O1")
    settled = page.locator("#settled tr", has_text="WO-O1")
    expect(settled).to_contain_text("Accept ERP")
    expect(settled).to_contain_text("Customer ordered ten more")
    expect(settled).to_contain_text("sven (supervisor)")
    expect(page.locator("#conflict-badge")).to_have_text("0")
    resolved = [e for e in plant.history("WO-O1") if e["event"] == "ConflictResolved"]
    assert [(e["actor_id"], e["actor_role"]) for e in resolved] == [("sven", "supervisor")]
    office_sign_out(page)

    # an auditor opens the order: the timeline picture, the trail, a green badge
    office_sign_in(page, plant, "audrey")
    page.goto(plant.url + "/office/order?no=WO-O1&integration=plant")
    expect(page.locator("#qty")).to_have_text("60")
    expect(page.locator("#good")).to_have_text("5")
    expect(page.get_by_role("cell", name="SN-0042", exact=True)).to_be_visible()
    runs = page.locator('svg.timeline rect[data-kind="run"]')
    pauses = page.locator('svg.timeline rect[data-kind="pause"]')
    expect(runs).to_have_count(2)
    expect(pauses).to_have_count(1)

    def moment(loc: Any, attr: str) -> datetime:
        return datetime.fromisoformat(loc.get_attribute(attr))

    assert moment(runs.nth(0), "data-start") == started
    assert moment(runs.nth(0), "data-end") == paused
    assert moment(pauses.nth(0), "data-start") == paused
    assert moment(pauses.nth(0), "data-end") == resumed
    assert pauses.nth(0).get_attribute("data-reason") == "MAT"
    assert moment(runs.nth(1), "data-start") == resumed
    assert runs.nth(1).get_attribute("data-open") == "true"
    # bars follow the time axis: the pause starts where the first run ends
    x_end = float(runs.nth(0).get_attribute("x") or 0) + float(
        runs.nth(0).get_attribute("width") or 0
    )
    assert abs(x_end - float(pauses.nth(0).get_attribute("x") or 0)) < 0.2
    expect(page.locator("svg.timeline .legend-reasons")).to_contain_text("Waiting for material")
    expect(page.locator("svg.timeline text.actual")).to_contain_text("standard 45 min")
    trail = page.locator("#trail tr[data-event='ConflictResolved']")
    expect(trail).to_contain_text("sven")
    expect(trail).to_contain_text("supervisor")
    page.get_by_role("link", name="Verify the hash chain").click()
    expect(page.locator("#verification.badge-ok")).to_contain_text("intact")
    shot(page, plant, "12-office-order")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = download.value.path().read_text(encoding="utf-8")
    assert "ConflictResolved" in text and "sven" in text

    # an auditor may not settle a conflict, even by posting the form
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    refused = page.request.post(
        plant.url + "/office/conflicts/resolve",
        form={"csrf_token": token or "", "order_no": "WO-O1", "integration": "plant",
              "field": "quantity", "resolution": "keep_floor"},
    )  # fmt: skip
    assert refused.status == 403

    # a stored event altered with SQL: the badge turns red and names the version
    version = next(e["version"] for e in plant.history("WO-O1") if e["event"] == "QuantityReported")
    alter_stored_event(plant, version)
    page.reload()
    expect(page.locator("#verification.badge-bad")).to_contain_text(f"version {version}")


def test_an_operator_terminal_cannot_open_the_office_pages(page: Page, plant: Plant) -> None:
    page.goto(plant.url + "/terminal")  # a supervisor signs this browser in as a terminal
    page.get_by_label("Supervisor token").fill(plant.tokens["sven"])
    page.get_by_label("Terminal name").fill("Office test terminal")
    page.get_by_label("Work centres (comma-separated)").fill("SAW-1")
    page.get_by_role("button", name="Sign in terminal").click()
    page.get_by_role("heading", name="Sign on").wait_for()
    response = page.goto(plant.url + "/office/conflicts")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed (403)")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("work-centre terminal")
    # and the badge's JSON is refused too
    assert page.request.get(plant.url + "/office/conflicts/count.json").status == 403
    # with no session at all, the office sends the browser to sign in
    page.context.clear_cookies()
    page.goto(plant.url + "/office/order?no=WO-O1")
    expect(page.get_by_role("heading", name="Sign in to the office pages")).to_be_visible()


def test_a_supervisor_skips_a_refused_writeback_with_a_note_and_the_order_page_shows_it(
    page: Page, plant: Plant
) -> None:
    park(plant, "WO-K1")
    office_sign_in(page, plant, "sven")
    page.get_by_role("link", name="Writeback").click()
    desk = page.locator('section.destination[data-destination="erp-rest"]')
    row = desk.locator("tr[data-order='WO-K1']")
    # a skip needs a note: the browser does not send the form without one
    row.get_by_role("button", name="Skip WO-K1").click()
    assert row.get_by_label("Note for WO-K1 (needed to skip)").evaluate("el => !el.validity.valid")
    expect(page.get_by_role("status")).to_have_count(0)
    # (nor does the server take one without it)
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    bare = page.request.post(
        plant.url + "/office/writeback/decide",
        form={"csrf_token": token or "", "destination": "erp-rest", "order_no": "WO-K1",
              "decision": "skip", "note": "  "},
    )  # fmt: skip
    assert "needs a note" in bare.text() and parked(plant, "WO-K1")
    row.get_by_label("Note for WO-K1 (needed to skip)").fill("Keyed into the ERP by hand")
    row.get_by_role("button", name="Skip WO-K1").click()
    expect(page.get_by_role("status")).to_contain_text("WO-K1 at erp-rest: skipped")
    decided = desk.locator("table.decisions tr[data-decided='WO-K1']")
    expect(decided).to_contain_text("skip")
    expect(decided).to_contain_text("Keyed into the ERP by hand")
    expect(decided).to_contain_text("sven (supervisor)")
    wait_for(lambda: not parked(plant, "WO-K1"), 15, "the parked entry to clear")
    page.reload()
    expect(desk.locator("table.parked tr[data-order='WO-K1']")).to_have_count(0)
    shot(page, plant, "18-office-writeback-decided", desk)
    # the order page's audit trail shows the note and who decided
    office_sign_out(page)
    office_sign_in(page, plant, "audrey")
    page.goto(plant.url + "/office/order?no=WO-K1&integration=plant")
    trail = page.locator("#trail tr[data-event='WritebackDecided']")
    expect(trail).to_contain_text("Keyed into the ERP by hand")
    expect(trail).to_contain_text("sven")
    expect(trail).to_contain_text("supervisor")
    page.get_by_role("link", name="Verify the hash chain").click()
    expect(page.locator("#verification.badge-ok")).to_be_visible()


def test_the_api_takes_a_note_with_retry_and_skip_and_refuses_a_bad_one(plant: Plant) -> None:
    receiver = park(plant, "WO-K2")
    base = "/writeback/destinations/erp-rest/parked/WO-K2"
    # a bad note is refused naming the field, and nothing is decided
    for bad in ("bell\x07", "x" * 1001):
        r = plant.call("POST", f"{base}/retry", "sven", {"note": bad})
        assert r.status_code == 422 and "note" in r.text, r.text
    assert plant.call("POST", f"{base}/retry", "audrey", {"note": "x"}).status_code == 403
    assert not [e for e in plant.history("WO-K2") if e["event"] == "WritebackDecided"]
    sent = receiver.requests
    r = plant.call("POST", f"{base}/retry", "sven", {"note": "the ERP team unlocked it"})
    assert r.status_code == 200, r.text

    def refused_again() -> bool:
        again = parked(plant, "WO-K2")
        return receiver.requests > sent and bool(again) and again[0]["decision"] is None

    wait_for(refused_again, 30, "the retry to be refused again")
    r = plant.call("POST", f"{base}/skip", "sven", {"note": "sent by mail instead"})
    assert r.status_code == 200, r.text
    decided = [e for e in plant.history("WO-K2") if e["event"] == "WritebackDecided"]
    assert [(e["details"]["decision"], e["details"]["note"], e["actor_id"]) for e in decided] == [
        ("retry", "the ERP team unlocked it", "sven"),
        ("skip", "sent by mail instead", "sven"),
    ]
    # no body at all is still a decision without a note (API clients of before)
    park(plant, "WO-K3")
    r = plant.call("POST", "/writeback/destinations/erp-rest/parked/WO-K3/skip", "sven")
    assert r.status_code == 200, r.text


def test_a_refused_writeback_is_parked_shown_with_the_reason_and_retried_from_the_desk(
    page: Page, plant: Plant
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    plant.release("WO-O2")
    floor(plant, "WO-O2", "start", now - timedelta(minutes=20))
    body = {
        "started_at": (now - timedelta(minutes=20)).isoformat(),
        "ended_at": (now - timedelta(minutes=5)).isoformat(),
        "good": "3",
        "report_id": "R1",
    }
    r = plant.call("POST", "/orders/WO-O2/operations/10/reports", "sven", body, integration="plant")
    assert r.status_code == 200, r.text
    receiver = RECEIVERS[-1]
    receiver.refuse_orders = {"WO-O2"}
    r = plant.call("POST", "/writeback/orders/WO-O2/reports/R1/trigger", "sven", {},
                   integration="plant")  # fmt: skip
    assert r.status_code == 200, r.text

    def parked() -> list[Any]:
        r = plant.call("GET", "/writeback/destinations/erp-rest", "sven")
        return [p for p in r.json()["parked"] if p["order_no"] == "WO-O2"]

    wait_for(parked, 30, "the refused order to be parked")

    def open_warnings() -> list[Any]:
        r = plant.call("GET", "/warnings", "sven", order_no="WO-O2", relevant_only="true")
        return [w for w in r.json() if "writeback" in w["code"]]

    assert wait_for(open_warnings, 15, "the parked-writeback warning")

    office_sign_in(page, plant, "sven")
    page.get_by_role("link", name="Writeback").click()
    desk = page.locator('section.destination[data-destination="erp-rest"]')
    row = desk.locator("tr[data-order='WO-O2']")
    expect(row.locator(".reason")).to_contain_text("422")
    expect(desk.locator(".backlog")).not_to_have_text("0")
    shot(page, plant, "13-office-writeback", desk)
    receiver.refuse_orders = set()  # the ERP recovers
    row.get_by_role("button", name="Retry WO-O2").click()
    expect(page.get_by_role("status")).to_contain_text("WO-O2 at erp-rest: sent again")
    wait_for(lambda: any(m["order_no"] == "WO-O2" for m in receiver.applied.values()), 30,
             "the ERP to receive the order")  # fmt: skip
    wait_for(lambda: not parked(), 15, "the parked entry to clear")
    wait_for(lambda: not open_warnings(), 15, "the warning to clear")
    page.reload()
    expect(desk.locator("tr[data-order='WO-O2']")).to_have_count(0)


def test_office_staff_filter_the_report_script_export_xlsx_and_mark_two_rows_keyed(
    page: Page, plant: Plant
) -> None:
    import openpyxl

    now = datetime.now(UTC).replace(microsecond=0)
    for order_no, wc in (
        ("WO-S1", "SAW-1"),
        ("WO-S2", "SAW-1"),
        ("WO-S3", "LASER-1"),
        ("WO-S4", "SAW-1"),
    ):
        plant.release(order_no, work_centre=wc)
        floor(plant, order_no, "start", now - timedelta(minutes=30))
        floor(plant, order_no, "quantities", now - timedelta(minutes=10), good="7")
        floor(plant, order_no, "complete", now - timedelta(minutes=5))
    # an order of a mode-D integration: the ERP gets it by writeback, never by hand
    body = {
        "order_no": "WO-D1",
        "part_no": "BRK-200",
        "quantity": "5",
        "unit": "pcs",
        "routing": [{"op_id": "10", "work_centre": "SAW-1", "run_time_per_unit": "1"}],
    }
    r = plant.call("POST", "/erp/orders", "erp", body, integration="dplant")
    assert r.status_code == 200, r.text
    floor(plant, "WO-D1", "start", now - timedelta(minutes=30), integration="dplant")
    last = floor(plant, "WO-D1", "complete", now - timedelta(minutes=5), integration="dplant")
    r = plant.call("GET", "/report-script", "sven", wait_for_position=last)
    # the order of the mode-D integration is written back automatically: neither the API's
    # report script nor the page lists it, while orders of modes C and E are listed
    listed = {row["order_no"] for row in r.json()}
    assert "WO-D1" not in listed and listed

    office_sign_in(page, plant, "sven")
    page.get_by_role("link", name="Report script").click()
    expect(page.locator("#script")).not_to_contain_text("WO-D1")
    page.get_by_label("Work centre").fill("SAW-1")
    page.get_by_label("Date").fill(datetime.now().astimezone().date().isoformat())
    page.get_by_label("Keyed", exact=True).select_option(label="not keyed")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#script tbody tr")
    expect(rows.filter(has_text="WO-S1")).to_have_count(1)
    expect(rows.filter(has_text="WO-S2")).to_have_count(1)
    expect(rows.filter(has_text="WO-S3")).to_have_count(0)  # at LASER-1
    expect(rows.filter(has_text="WO-D1")).to_have_count(0)  # mode D
    shot(page, plant, "14-office-report-script")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export XLSX").click()
    book = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes()))
    sheet = book.active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    lines = [
        dict(zip(header, (c.value for c in row), strict=False))
        for row in sheet.iter_rows(min_row=2)
    ]
    shown = {line["order_no"] for line in lines}
    assert {"WO-S1", "WO-S2"} <= shown and not shown & {"WO-S3", "WO-D1"}
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    goods = [line["good"] for line in lines if line["order_no"] in ("WO-S1", "WO-S2")]
    assert goods == [7, 7] and all(isinstance(g, int | float) for g in goods)

    page.get_by_label("Select WO-S1 10").check()
    page.get_by_label("Select WO-S2 10").check()
    page.get_by_role("button", name="Mark selected keyed").click()
    expect(page.get_by_role("status")).to_contain_text("2 row(s) marked keyed")
    expect(rows.filter(has_text="WO-S1")).to_have_count(0)  # still filtered to not keyed
    page.get_by_role("button", name="Mark WO-S4 10 keyed").click()  # one row by itself
    expect(page.get_by_role("status")).to_contain_text("1 row(s) marked keyed")
    expect(rows.filter(has_text="WO-S4")).to_have_count(0)
    page.get_by_label("Keyed", exact=True).select_option(label="keyed")
    page.get_by_role("button", name="Filter").click()
    expect(rows.filter(has_text="WO-S1").locator(".keyed")).to_contain_text("yes, sven")
    expect(rows.filter(has_text="WO-S2").locator(".keyed")).to_contain_text("yes, sven")
    keyed = [e for e in plant.history("WO-S1") if e["event"] == "RowKeyed"]
    assert [(e["actor_id"], e["actor_role"]) for e in keyed] == [("sven", "supervisor")]


def test_a_supervisor_acknowledges_a_warning_with_a_note_and_it_closes(
    page: Page, plant: Plant
) -> None:
    plant.release("WO-W1")
    r = plant.call("POST", "/orders/WO-W1/operations/99/start", "sven", {},
                   integration="plant", off_routing="true")  # fmt: skip
    assert r.status_code == 200, r.text
    office_sign_in(page, plant, "sven")
    page.get_by_role("link", name="Warnings").click()
    page.get_by_label("Code").fill("unknown_operation")
    page.get_by_role("button", name="Filter").click()
    row = page.locator("#warnings tbody tr", has_text="WO-W1")
    expect(row.locator(".wstate")).to_have_text("open")
    shot(page, plant, "15-office-warnings")
    row.get_by_label("Note on WO-W1 unknown_operation").fill("op 99 is the new deburring step")
    row.get_by_role("button", name="Acknowledge WO-W1 unknown_operation").click()
    expect(page.get_by_role("status")).to_contain_text("warning on WO-W1 acknowledged")
    expect(page.locator("#warnings tbody tr", has_text="WO-W1")).to_have_count(0)  # open only
    page.get_by_label("Open or closed").select_option("closed")
    page.get_by_role("button", name="Filter").click()
    expect(row.locator(".wstate")).to_contain_text(
        "acknowledged by sven: op 99 is the new deburring step"
    )
    acked = [e for e in plant.history("WO-W1") if e["event"] == "WarningAcknowledged"]
    assert [(e["actor_id"], e["actor_role"]) for e in acked] == [("sven", "supervisor")]
    # an auditor sees the warnings but may not acknowledge one
    office_sign_out(page)
    office_sign_in(page, plant, "audrey")
    page.goto(plant.url + "/office/warnings?state=all")
    expect(page.locator("#warnings")).to_contain_text("WO-W1")
    expect(page.get_by_role("button", name="Acknowledge WO-W1 unknown_operation")).to_have_count(0)
    # the same over the JSON API: an auditor is refused; a closed warning cannot be acked again
    version = acked[0]["details"]["warning_version"]
    path = f"/warnings/WO-W1/{version}/acknowledgement"
    assert plant.call("POST", path, "audrey", {"note": "x"}, integration="plant").status_code == 403
    again = plant.call("POST", path, "sven", {"note": "x"}, integration="plant")
    assert again.status_code == 422 and "warning_version" in again.text


def test_an_auditor_finds_what_a_user_did_in_a_time_window_and_opens_the_order(
    page: Page, plant: Plant
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    plant.release("WO-A1", work_centre="LASER-1")
    floor(plant, "WO-A1", "start", now - timedelta(minutes=3))
    office_sign_in(page, plant, "audrey")
    page.get_by_role("link", name="Search").click()
    local = datetime.now().astimezone()
    page.get_by_label("Actor", exact=True).fill("sven")
    page.get_by_label("From").fill((local - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Until").fill((local - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Search events").click()
    expect(page.locator("#found-events")).not_to_contain_text("WO-A1")  # not in that window
    page.get_by_label("From").fill((local - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Until").fill((local + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Search events").click()
    found = page.locator("#found-events tr[data-event='OperationStarted']", has_text="WO-A1")
    expect(found).to_contain_text("sven")
    shot(page, plant, "16-office-search")
    # orders by number prefix and work centre
    page.get_by_label("Order number starts with").fill("WO-A")
    page.get_by_label("Work centre").fill("LASER-1")
    page.get_by_role("button", name="Search orders").click()
    expect(page.locator("#found-orders tbody tr")).to_have_count(1)
    page.locator("#found-orders").get_by_role("link", name="WO-A1").click()
    expect(page.locator('svg.timeline rect[data-kind="run"]')).to_have_count(1)
    page.get_by_role("link", name="Verify the hash chain").click()
    expect(page.locator("#verification.badge-ok")).to_be_visible()


def test_the_plan_board_shows_what_runs_and_what_waits_with_progress(
    page: Page, plant: Plant
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    plant.release("WO-P1", work_centre="PRESS-1")
    plant.release("WO-P2", work_centre="PRESS-1")
    floor(plant, "WO-P1", "start", now - timedelta(minutes=9))
    last = floor(plant, "WO-P1", "quantities", now - timedelta(minutes=2), good="10")
    plant.call("GET", "/work-centres/PRESS-1/plan", "sven", wait_for_position=last)
    office_sign_in(page, plant, "sven")
    page.get_by_role("link", name="Plan board").click()
    page.get_by_label("Work centre", exact=True).fill("PRESS-1")
    page.get_by_role("button", name="Show").click()
    board = page.locator('section.wc[data-wc="PRESS-1"]')
    running = board.locator("ul.now li[data-order='WO-P1']")
    expect(running).to_contain_text("running")
    expect(running.locator("progress")).to_have_attribute("value", "20.0")
    expect(board.locator("ol li[data-order='WO-P2']")).to_contain_text("not_started")
    shot(page, plant, "17-office-plan")


def test_an_admin_replays_a_destination_from_a_position_no_further_than_the_head(
    page: Page, plant: Plant
) -> None:
    from adapters.settings import Settings
    from adapters.tokens import TokenStore

    tokens = TokenStore(Settings(database_url=plant.database_url), cache_seconds=0)  # type: ignore[arg-type]
    try:
        _, plant.tokens["ada"] = tokens.create("ada", "admin")
    finally:
        tokens.close()
    office_sign_in(page, plant, "ada")
    page.get_by_role("link", name="Writeback").click()
    desk = page.locator('section.destination[data-destination="erp-rest"]')
    head = plant.release("WO-R1")  # the ledger's newest position now
    desk.get_by_label("Replay erp-rest from position").fill(str(head + 5))
    desk.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("alert")).to_contain_text(f"from_position {head + 5} is outside")
    desk.get_by_label("Replay erp-rest from position").fill("abc")
    desk.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("alert")).to_contain_text("'abc' is not a whole number")
    desk.get_by_label("Replay erp-rest from position").fill("1")
    desk.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("status")).to_contain_text("erp-rest: replaying from position 1")
    # a supervisor sees no replay form, and a forged post is refused
    office_sign_out(page)
    office_sign_in(page, plant, "sven")
    page.get_by_role("link", name="Writeback").click()
    expect(page.get_by_role("button", name="Replay")).to_have_count(0)
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    refused = page.request.post(
        plant.url + "/office/writeback/replay",
        form={"csrf_token": token or "", "destination": "erp-rest", "from_position": "1"},
    )
    assert refused.status == 403
