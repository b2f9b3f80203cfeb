"""Issue #12 leftovers, through real HTTP on the app: order numbers with slashes, unit
factors of 0, floor actions without a body, and the work-centre scope of report triggers."""

from __future__ import annotations

from tests.conftest import Backend
from tests.e2e.conftest import Api, an_erp_order, api_on


def test_an_order_number_with_slashes_is_reachable_through_every_order_route(api: Api) -> None:
    api.release("WO/2024/17")
    start = api.post("olga", "/orders/WO/2024/17/operations/10/start")
    assert start.status_code == 200, start.text
    assert start.json()["order_no"] == "WO/2024/17"
    encoded = api.post("olga", "/orders/WO%2F2024%2F17/operations/10/pause", {"reason_code": "X"})
    assert encoded.status_code == 200, encoded.text
    status = api.get("olga", "/orders/WO/2024/17/status")
    assert status.status_code == 200, status.text
    assert status.json()["order_no"] == "WO/2024/17"
    history = api.get("audrey", "/orders/WO%2F2024%2F17/history")
    assert history.status_code == 200, history.text
    assert [e["event"] for e in history.json()["entries"]][-2:] == [
        "OperationStarted",
        "OperationPaused",
    ]
    assert api.get("audrey", "/orders/WO/2024/17/verification").json()["ok"] is True
    done = api.post("olga", "/orders/WO/2024/17/complete")
    assert done.status_code == 200, done.text
    cancel = api.post("erp-push", "/erp/orders/WO/2024/17/cancellation", {"reason": "x"})
    assert cancel.status_code == 200, cancel.text


def test_an_erp_push_with_a_unit_factor_of_zero_is_refused_naming_field_and_value(
    api: Api,
) -> None:
    r = api.post("erp-push", "/erp/orders", an_erp_order(unit_factors={"box": "0"}))
    assert r.status_code == 422, r.text
    assert "unit_factors" in r.text and "box" in r.text
    assert api.get("olga", "/orders/WO-1/status").status_code == 404
    negative = api.post("erp-push", "/erp/orders", an_erp_order(unit_factors={"box": "-2"}))
    assert negative.status_code == 422
    assert api.post("erp-push", "/erp/orders", an_erp_order(unit_factors={"box": "12"})).is_success


def test_start_resume_and_complete_without_a_body_mean_now_with_no_note(api: Api) -> None:
    api.release()
    h = api.headers("olga")
    base = "/orders/WO-1/operations/10"
    assert api.client.post(f"{base}/start", headers=h).status_code == 200
    assert api.post("olga", f"{base}/pause", {"reason_code": "X"}).status_code == 200
    assert api.client.post(f"{base}/resume", headers=h).status_code == 200
    assert api.client.post(f"{base}/complete", headers=h).status_code == 200
    done = api.client.post("/orders/WO-1/complete", headers=h)
    assert done.status_code == 200
    state = api.get("olga", "/orders/WO-1/status", wait_for_position=done.json()["position"]).json()
    assert state["state"] == "completed"


def test_a_pause_without_a_body_is_still_refused_naming_the_reason(api: Api) -> None:
    api.release()
    api.post("olga", "/orders/WO-1/operations/10/start")
    r = api.client.post("/orders/WO-1/operations/10/pause", headers=api.headers("olga"))
    assert r.status_code == 422


def test_an_operator_scoped_to_one_work_centre_cannot_trigger_another_centres_report(
    api: Api,
) -> None:
    api.release()
    times = {"started_at": "2026-01-05T08:00:00Z", "ended_at": "2026-01-05T09:00:00Z"}
    grind = api.post("olga", "/orders/WO-1/operations/20/reports", {**times, "good": "1"})
    lathe = api.post("olga", "/orders/WO-1/operations/10/reports", {**times, "good": "1"})
    path = "/writeback/orders/WO-1/reports/{}/trigger"
    refused = api.post("lena", path.format(grind.json()["result"]))
    assert refused.status_code == 403, refused.text
    assert "GRIND-1" in refused.text
    # her own centre's report passes the scope (and is then refused: no mode-E integration)
    own = api.post("lena", path.format(lathe.json()["result"]))
    assert own.status_code == 409, own.text


def test_an_order_released_a_moment_ago_is_found_by_its_status_while_the_views_lag(
    backend: Backend,
) -> None:
    """A status read right after a release finds the order even when no view has folded it
    yet (views run in another process, or are busy): it waits for the status view instead of
    answering 404 for an order the ledger holds. An order the ledger does not hold is 404."""
    with api_on(backend.url, follow_views=False) as api:
        api.release("WO-LAG-1")
        status = api.get("olga", "/orders/WO-LAG-1/status")
        assert status.status_code == 200, status.text
        assert status.json()["order_no"] == "WO-LAG-1"
        missing = api.get("olga", "/orders/WO-NEVER/status")
        assert missing.status_code == 404, missing.text
        assert missing.json()["value"] == "WO-NEVER"
