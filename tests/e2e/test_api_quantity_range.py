"""Quantities reported through the API get the documented range (docs/inbound.md, "Numbers")."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import Api

OP10 = "/orders/WO-1/operations/10"


@pytest.mark.parametrize(
    ("good", "reason"),
    [
        ("1E-400", "has more than 6 decimal places (at most 6)"),
        ("0.1234567", "has more than 6 decimal places (at most 6)"),
        ("1e13", "is out of range: it must be below 1000000000000"),
    ],
)
def test_a_quantity_outside_the_range_is_refused_naming_field_and_value(
    api: Api, good: str, reason: str
) -> None:
    api.release()
    r = api.post("olga", f"{OP10}/quantities", {"good": good})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "good" and reason in r.json()["detail"]
    history = api.get("audrey", "/orders/WO-1/history").json()
    assert [e["event"] for e in history["entries"]] == ["Released"]


def test_a_quantity_at_the_edge_of_the_range_is_kept_in_fixed_point(api: Api) -> None:
    api.release()
    r = api.post("olga", f"{OP10}/quantities", {"good": "0.000001"})
    assert r.status_code == 200
    history = api.get("audrey", "/orders/WO-1/history").json()
    reported = [e for e in history["entries"] if e["event"] == "QuantityReported"]
    assert [e["details"]["good"] for e in reported] == ["0.000001"]
    assert not re.search(r"\d[eE][+-]?\d", str(reported))


def test_a_reason_code_with_a_character_xml_cannot_carry_is_refused_with_422_naming_it(
    api: Api,
) -> None:
    api.release()
    r = api.post("olga", f"{OP10}/start", {})
    assert r.status_code == 200, r.text
    r = api.post("olga", f"{OP10}/pause", {"reason_code": "MAT\uffffWAIT"})
    assert r.status_code == 422 and r.json()["field"] == "reason_code"
    assert "U+FFFF" in r.json()["detail"]
    history = api.get("audrey", "/orders/WO-1/history").json()
    assert [e["event"] for e in history["entries"]] == ["Released", "OperationStarted"]
