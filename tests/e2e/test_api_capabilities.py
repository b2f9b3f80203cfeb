"""Each capability of the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook

from tests.e2e.conftest import Api, an_erp_order

OP10 = "/orders/WO-1/operations/10"


def minutes_ago(m: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=m)).isoformat()


def test_an_operator_works_an_operation_and_reads_it_back_at_the_written_position(
    api: Api,
) -> None:
    api.release()
    assert api.post("olga", f"{OP10}/start", {"at": minutes_ago(60)}).status_code == 200
    r = api.post("olga", f"{OP10}/pause", {"reason_code": "MAT-WAIT", "at": minutes_ago(50)})
    assert r.json()["events"] == ["OperationPaused"]
    assert api.post("olga", f"{OP10}/resume", {"at": minutes_ago(40)}).status_code == 200
    r = api.post("olga", f"{OP10}/quantities", {"good": 8, "scrap": 2, "scrap_reason": "BURR"})
    assert r.status_code == 200
    r = api.post("olga", f"{OP10}/results", {"passed": True, "serial": "SN-1", "batch": "B-7"})
    assert r.json()["events"] == ["ResultRecorded"]
    r = api.post("olga", f"{OP10}/complete", {})
    position = r.json()["position"]
    assert r.headers["Floorledger-Position"] == str(position)

    status = api.get("olga", "/orders/WO-1/status", wait_for_position=position)
    assert status.status_code == 200
    body = status.json()
    assert body["state"] == "in_progress"
    op = {o["op_id"]: o for o in body["operations"]}["10"]
    assert (op["state"], op["good"], op["scrap"]) == ("completed", "8", {"BURR": "2"})
    assert op["results"] == 1


def test_the_plan_of_a_work_centre_lists_its_open_operations(api: Api) -> None:
    api.release("WO-1")
    position = api.release("WO-2", due_date="2026-11-01").json()["position"]
    r = api.get("lena", "/work-centres/LATHE-1/plan", wait_for_position=position)
    assert r.status_code == 200
    entries = r.json()["entries"]
    assert [(e["order_no"], e["op_id"]) for e in entries] == [("WO-2", "10"), ("WO-1", "10")]


def test_a_submitted_report_appears_in_the_script_and_downloads_and_is_marked_keyed(
    api: Api,
) -> None:
    api.release()
    r = api.post(
        "olga",
        f"{OP10}/reports",
        {
            "started_at": minutes_ago(90),
            "ended_at": minutes_ago(30),
            "good": 5,
            "scrap": {"BURR": 1},
            "note": "=SUM(A1)",
            "report_id": "R-1",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "R-1"
    position = r.json()["position"]

    rows = api.get("olga", "/report-script", wait_for_position=position, order_no="WO-1").json()
    assert [(row["row_id"], row["good"], row["keyed"]) for row in rows] == [
        ("report:R-1", "5", False)
    ]
    csv = api.get("olga", "/report-script.csv", order_no="WO-1")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "report:R-1" in csv.text and "'=SUM(A1)" in csv.text
    xlsx = api.get("olga", "/report-script.xlsx", order_no="WO-1")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[1][0] == "report:R-1"

    keyed = api.post("sven", "/report-script/WO-1/rows/report:R-1/keyed")
    assert keyed.json()["events"] == ["RowKeyed"]
    again = api.post("sven", "/report-script/WO-1/rows/report:R-1/keyed")
    assert again.json()["events"] == []
    rows = api.get(
        "olga", "/report-script", wait_for_position=keyed.json()["position"], keyed=True
    ).json()
    assert [(row["row_id"], row["keyed_by"]) for row in rows] == [("report:R-1", "sven")]


def test_an_erp_change_to_a_started_order_raises_a_conflict_a_supervisor_resolves(
    api: Api,
) -> None:
    api.release()
    api.post("olga", f"{OP10}/start")
    changed = api.post("erp-push", "/erp/orders", _order(quantity="12"))
    assert changed.json()["events"] == ["ConflictRaised"]
    conflicts = api.get(
        "olga", "/conflicts", open_only=True, wait_for_position=changed.json()["position"]
    ).json()
    assert [(c["field"], c["erp_value"], c["floor_value"]) for c in conflicts] == [
        ("quantity", "12", "10")
    ]
    r = api.post(
        "sven", "/conflicts/WO-1/quantity/resolution", {"resolution": "keep_floor", "note": "ok"}
    )
    assert r.json()["events"] == ["ConflictResolved"]
    after = api.get("olga", "/conflicts", wait_for_position=r.json()["position"]).json()
    assert [(c["status"], c["resolution"], c["resolved_by"]) for c in after] == [
        ("resolved", "keep_floor", "sven")
    ]
    missing = api.post("sven", "/conflicts/WO-1/quantity/resolution", {"resolution": "cancel"})
    assert missing.status_code == 404
    assert missing.json()["field"] == "field"


def test_erp_cancellation_of_an_untouched_order_cancels_it(api: Api) -> None:
    api.release()
    r = api.post("erp-push", "/erp/orders/WO-1/cancellation", {"reason": "customer"})
    assert r.json()["events"] == ["CancelledInErp"]
    status = api.get("olga", "/orders/WO-1/status", wait_for_position=r.json()["position"])
    assert status.json()["state"] == "cancelled"
    # warn, don't block: the floor may still record, with a warning
    late = api.post("olga", f"{OP10}/start")
    assert late.status_code == 200 and late.json()["warnings"] == ["order_cancelled"]
    warnings = api.get("olga", "/warnings", wait_for_position=late.json()["position"]).json()
    assert [w["code"] for w in warnings] == ["order_cancelled"]


def test_an_auditor_pages_through_the_history_and_verifies_the_chain(api: Api) -> None:
    api.release()
    api.post("olga", f"{OP10}/start")
    api.post("olga", f"{OP10}/quantities", {"good": 1})
    first = api.get("audrey", "/orders/WO-1/history", limit=2).json()
    assert [e["event"] for e in first["entries"]] == ["Released", "OperationStarted"]
    assert first["entries"][1]["actor_id"] == "olga"
    assert first["entries"][1]["actor_role"] == "operator"
    assert first["entries"][1]["source"] == "api"
    pushed = first["entries"][0]  # pushed by the ERP: its token, the ERP as the source
    assert (pushed["actor_id"], pushed["actor_role"], pushed["source"]) == (
        "erp-push",
        "integration",
        "erp:erp",
    )
    rest = api.get(
        "audrey", "/orders/WO-1/history", after_version=first["next_after_version"]
    ).json()
    assert [e["event"] for e in rest["entries"]] == ["QuantityReported"]
    assert rest["next_after_version"] is None
    verified = api.get("audrey", "/orders/WO-1/verification").json()
    assert verified["ok"] is True and verified["events"] == 3
    assert api.get("audrey", "/orders/NOPE/history").status_code == 404
    assert api.get("audrey", "/orders/NOPE/history", after_version=3).status_code == 404


def test_errors_are_problem_documents_naming_the_field_and_value(api: Api) -> None:
    api.release()
    negative = api.post("olga", f"{OP10}/quantities", {"good": -1})
    assert negative.status_code == 422
    assert negative.headers["content-type"] == "application/problem+json"
    assert (negative.json()["field"], negative.json()["value"]) == ("good", -1)
    no_reason = api.post("olga", f"{OP10}/quantities", {"scrap": 1})
    assert no_reason.status_code == 422
    assert no_reason.json()["field"] == "scrap_reason"
    assert api.post("olga", "/orders/NOPE/operations/10/start").status_code == 404
    unknown_op = api.post("olga", "/orders/WO-1/operations/99/start")
    assert (unknown_op.status_code, unknown_op.json()["value"]) == (404, "99")
    api.post("olga", f"{OP10}/start")
    twice = api.post("olga", f"{OP10}/start")
    assert twice.status_code == 409
    assert twice.json()["type"] == "/problems/operation-state"
    beyond = api.get("olga", "/orders/WO-1/status", wait_for_position=10**9)
    assert (beyond.status_code, beyond.json()["field"]) == (422, "wait_for_position")


def test_liveness_readiness_and_metrics(api: Api) -> None:
    api.release()
    assert api.client.get("/health/live").json() == {"status": "ok"}
    ready = api.client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["position"] >= 1
    text = api.client.get("/metrics").text
    assert 'floorledger_http_requests_total{method="POST",route="/erp/orders",status="200"}' in text
    assert "floorledger_events_written_total 1.0" in text
    assert 'floorledger_view_lag_events{view="status"}' in text
    assert "floorledger_http_request_duration_seconds_bucket" in text


def _order(**overrides: str) -> dict[str, object]:
    from tests.e2e.conftest import an_erp_order

    return an_erp_order("WO-1", **overrides)


def test_work_outside_the_routing_is_refused_as_unknown_unless_asked_and_then_warned(
    api: Api,
) -> None:
    api.release()
    typo = api.post("sven", "/orders/WO-1/operations/99/start")
    assert typo.status_code == 404
    asked = api.client.post(
        "/orders/WO-1/operations/99/start",
        params={"off_routing": "true"},
        json={},
        headers=api.headers("sven"),
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["warnings"] == ["unknown_operation"]
    # once worked, the operation is known: later actions need no flag
    assert api.post("sven", "/orders/WO-1/operations/99/complete").status_code == 200


def test_the_floor_completes_an_order_once_and_a_scoped_operator_may_not(api: Api) -> None:
    api.release()
    scoped = api.post("lena", "/orders/WO-1/complete")
    assert scoped.status_code == 403
    done = api.post("olga", "/orders/WO-1/complete", key="c1")
    assert done.status_code == 200, done.text
    assert done.json()["events"] == ["OrderCompleted"]
    again = api.post("olga", "/orders/WO-1/complete")
    assert again.status_code == 409
    status = api.get("olga", "/orders/WO-1/status", wait_for_position=done.json()["position"])
    assert status.json()["state"] == "completed"


def test_an_order_of_another_integration_is_found_by_its_number_alone(api: Api) -> None:
    pushed = api.post("erp-push", "/erp/orders?integration=plant-b", an_erp_order("WO-7"))
    assert pushed.status_code == 200, pushed.text
    started = api.post("olga", "/orders/WO-7/operations/10/start")
    assert started.status_code == 200, started.text
    assert started.json()["integration"] == "plant-b"
    status = api.get("olga", "/orders/WO-7/status", wait_for_position=started.json()["position"])
    assert status.status_code == 200 and status.json()["integration"] == "plant-b"
