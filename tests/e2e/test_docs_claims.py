"""Issue #18: what the docs and messages say is what the API does (real HTTP on the app)."""

from __future__ import annotations

from tests.e2e.conftest import Api, an_erp_order

OP10 = "/orders/WO-1/operations/10"


def test_floor_actions_on_an_order_cancelled_in_the_erp_while_running_are_warned_at_once(
    api: Api,
) -> None:
    api.release()
    api.post("olga", f"{OP10}/start")
    cancel = api.post("erp-push", "/erp/orders/WO-1/cancellation", {"reason": "customer"})
    assert cancel.status_code == 200, cancel.text
    report = api.post("olga", f"{OP10}/quantities", {"good": "1"})
    assert report.status_code == 200, report.text
    assert "order_cancelled" in report.json()["warnings"]
    pos = report.json()["position"]
    warnings = api.get(
        "olga", "/warnings", order_no="WO-1", code="order_cancelled", wait_for_position=pos
    ).json()
    assert "supervisor is reviewing" in warnings[0]["message"]


def test_an_operator_reporting_under_an_open_erp_quantity_change_is_told_the_new_value(
    api: Api,
) -> None:
    api.release()
    api.post("olga", f"{OP10}/start")
    assert api.post("erp-push", "/erp/orders", an_erp_order(quantity="60")).is_success
    report = api.post("olga", f"{OP10}/quantities", {"good": "2"})
    assert report.status_code == 200, report.text
    assert "erp_quantity_pending" in report.json()["warnings"]
    pos = report.json()["position"]
    row = api.get(
        "olga", "/warnings", order_no="WO-1", code="erp_quantity_pending", wait_for_position=pos
    ).json()[0]
    assert row["message"] == "the ERP changed the quantity to 60 — a supervisor is reviewing it"
    settled = api.post("sven", "/conflicts/WO-1/quantity/resolution", {"resolution": "keep_floor"})
    assert settled.status_code == 200, settled.text
    again = api.post("olga", f"{OP10}/quantities", {"good": "1"})
    assert "erp_quantity_pending" not in again.json()["warnings"]
    relevant = api.get(
        "olga",
        "/warnings",
        order_no="WO-1",
        relevant_only="true",
        wait_for_position=again.json()["position"],
    ).json()
    assert all(w["code"] != "erp_quantity_pending" for w in relevant)


def test_scrap_without_a_reason_is_refused_in_plain_words(api: Api) -> None:
    api.release()
    r = api.post("olga", f"{OP10}/quantities", {"scrap": "1"})
    assert r.status_code == 422
    assert r.json()["detail"] == "scrap_reason is required when scrap is more than 0"


def test_a_time_without_a_zone_is_refused_under_its_name_at(api: Api) -> None:
    api.release()
    r = api.post("olga", f"{OP10}/start", {"at": "2026-01-05T08:00:00"})
    assert r.status_code == 422
    assert "occurred_at" not in r.text
    assert "at" in [e["field"] for e in r.json()["errors"]]


def test_a_body_that_is_not_json_is_named_as_the_body(api: Api) -> None:
    api.release()
    r = api.client.post(
        f"{OP10}/start",
        content=b"{not json",
        headers={**api.headers("olga"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields == ["body"], r.text


def test_the_swagger_examples_do_not_prefill_at_with_the_load_time(api: Api) -> None:
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    for name, schema in schemas.items():
        at = schema.get("properties", {}).get("at")
        if at is not None:
            assert "example" not in at and "examples" not in at, name
            assert at.get("default") is None, name
            # the body's own example leaves `at` out, so Swagger has nothing to pre-fill
            assert schema["examples"] and all("at" not in ex for ex in schema["examples"]), name


def test_without_integration_the_only_integration_holding_the_order_answers(api: Api) -> None:
    r = api.post("erp-push", "/erp/orders?integration=other-erp", an_erp_order("WO-9"))
    assert r.status_code == 200, r.text
    status = api.get("olga", "/orders/WO-9/status")
    assert status.status_code == 200, status.text
    assert status.json()["integration"] == "other-erp"


def test_the_plan_lists_completed_operations_of_open_orders_too(api: Api) -> None:
    api.release()
    pos = api.post("olga", f"{OP10}/complete").json()["position"]
    entries = api.get("olga", "/work-centres/LATHE-1/plan", wait_for_position=pos).json()["entries"]
    assert [(e["op_id"], e["op_state"]) for e in entries] == [("10", "completed")]


def test_plan_help_says_completed_operations_are_listed_too() -> None:
    from typer.testing import CliRunner

    from api.cli import app

    result = CliRunner().invoke(app, ["plan", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "completed ones too" in result.output
