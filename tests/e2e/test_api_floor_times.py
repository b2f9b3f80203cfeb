"""The window of floor times through the HTTP API (issue #11, item 8), on SQLite and
PostgreSQL: a start back-dated beyond FLOORLEDGER_MAX_BACKDATE_HOURS is refused with a 422
naming ``at`` and the value, nothing recorded; one within it is recorded with a ``backdated``
warning the warnings view lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import Backend
from tests.e2e.conftest import api_on

OP10 = "/orders/WO-1/operations/10"


def hours_ago(h: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=h)).isoformat()


def test_a_start_back_dated_beyond_the_window_is_refused_naming_at_and_its_value(
    backend: Backend,
) -> None:
    with api_on(backend.url, max_backdate_hours="24") as api:
        api.release()
        r = api.post("olga", f"{OP10}/start", {"at": "2020-01-06T06:00:00Z"})
        assert r.status_code == 422
        problem = r.json()
        assert (problem["field"], problem["value"]) == ("at", "2020-01-06T06:00:00+00:00")
        assert "more than 24 hours in the past" in problem["detail"]
        assert "FLOORLEDGER_MAX_BACKDATE_HOURS" in problem["detail"]
        history = api.get("audrey", "/orders/WO-1/history").json()
        assert [e["event"] for e in history["entries"]] == ["Released"]

        report = {"started_at": hours_ago(30), "ended_at": hours_ago(29), "good": "1"}
        r = api.post("olga", f"{OP10}/reports", report)
        assert (r.status_code, r.json()["field"]) == (422, "started_at")
        r = api.post("olga", f"{OP10}/start", {"at": hours_ago(-2)})
        assert (r.status_code, r.json()["field"]) == (422, "at")
        assert "is in the future" in r.json()["detail"]
        assert api.get("audrey", "/orders/WO-1/history").json()["entries"][-1]["version"] == 1


def test_a_start_two_hours_back_is_recorded_with_a_backdated_warning(backend: Backend) -> None:
    with api_on(backend.url, max_backdate_hours="24") as api:
        api.release()
        r = api.post("olga", f"{OP10}/start", {"at": hours_ago(2)})
        assert r.status_code == 200
        assert r.json()["events"] == ["OperationStarted", "WarningRaised"]
        assert r.json()["warnings"] == ["backdated"]
        position = r.json()["position"]
        (row,) = api.get("sven", "/warnings", code="backdated", wait_for_position=position).json()
        assert (row["order_no"], row["reference"], row["relevant"]) == ("WO-1", "10", True)
        # a pause a few minutes back (a terminal's short outage) adds no warning
        r = api.post("olga", f"{OP10}/pause", {"reason_code": "MAT-WAIT", "at": hours_ago(0.1)})
        assert (r.status_code, r.json()["warnings"]) == (200, [])
