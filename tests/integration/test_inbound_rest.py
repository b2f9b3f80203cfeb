"""The REST transport against a real HTTP server on loopback, with a real Ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.config import Integration
from adapters.inbound import rest
from adapters.inbound.sync import SourceUnavailable, open_orders_in_ledger
from adapters.settings import Settings, build_ledger
from domain import Actor, Ledger, OrderState
from domain.commands import ReportQuantity, StartOperation
from tests.support.erp_http import NESTED_FIELDS, ErpHttp, nested_order

OPERATOR = Actor("op-7", "operator", "api")


@pytest.fixture
def erp() -> Iterator[ErpHttp]:
    server = ErpHttp(page_size=2).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}"))  # type: ignore[arg-type]
    try:
        yield ledger
    finally:
        ledger.close()


def integration(erp: ErpHttp, **over: Any) -> Integration:
    inbound: dict[str, Any] = {
        "transport": "rest",
        "url": erp.url,
        "items_path": "data.orders",
        "timeout_seconds": 2,
        "paging": {"mode": "page", "page_param": "page", "size_param": "size", "page_size": 2},
    }
    inbound.update(over.pop("inbound", {}))
    data: dict[str, Any] = {
        "name": "plant1",
        "mode": "B",
        "inbound": inbound,
        "fields": {**NESTED_FIELDS, "cancelled_values": ["cancelled"]},
    }
    data.update(over)
    return Integration.model_validate(data)


def sync(integ: Integration, ledger: Ledger) -> Any:
    return rest.sync(integ, ledger, open_orders=lambda: open_orders_in_ledger(ledger, integ.name))


def test_the_paged_plan_is_released_reimported_changed_and_cancelled(
    erp: ErpHttp, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERP_TOKEN", "s3cret")
    erp.required_headers = {"Authorization": "Bearer s3cret"}
    erp.orders = [nested_order(f"WO-{i}") for i in range(1, 6)] + [
        nested_order("WO-9", status="planned")
    ]
    integ = integration(erp, inbound={"auth": {"type": "bearer", "token_env": "ERP_TOKEN"}})
    first = sync(integ, ledger)
    assert first.released == ["WO-1", "WO-2", "WO-3", "WO-4", "WO-5"]
    assert first.not_released == ["WO-9"] and first.ok
    assert len(erp.requests) == 4  # three full pages of 2, then an empty one
    assert ledger.get_order("WO-1", "plant1").routing_ids() == ["10", "20"]

    again = sync(integ, ledger)
    assert again.unchanged == ["WO-1", "WO-2", "WO-3", "WO-4", "WO-5"] and not again.released

    # WO-2 is started on the floor; then the ERP changes WO-1 and WO-2 and cancels WO-3, WO-4.
    ledger.execute(StartOperation("WO-2", "10", integration="plant1"), OPERATOR)
    ledger.execute(StartOperation("WO-4", "10", integration="plant1"), OPERATOR)
    erp.orders[0] = nested_order("WO-1", qty=12)
    erp.orders[1] = nested_order("WO-2", qty=12)
    erp.orders[2] = nested_order("WO-3", status="cancelled")
    erp.orders[3] = nested_order("WO-4", status="cancelled")
    third = sync(integ, ledger)
    assert third.changed == ["WO-1"]
    assert sorted(third.conflicts) == ["WO-2", "WO-4"]
    assert third.cancelled == ["WO-3"]
    assert ledger.get_order("WO-1", "plant1").quantity == 12
    assert ledger.get_order("WO-3", "plant1").state == OrderState.CANCELLED
    assert ledger.get_order("WO-4", "plant1").state == OrderState.IN_PROGRESS

    # Full plan: WO-5 disappears from the service and is cancelled as missing.
    integ_full = integ.model_copy(update={"full_plan": True})
    erp.orders = erp.orders[:4]
    fourth = sync(integ_full, ledger)
    assert fourth.cancelled == ["WO-5"]


def test_unknown_references_warn_once_and_bad_items_never_stop_good_ones(
    erp: ErpHttp, sqlite_ledger: Ledger
) -> None:
    bad_qty = nested_order("WO-BAD")
    bad_qty["qty"] = "lots"
    erp.orders = [nested_order("WO-1", wc="PG-77"), "not an object", bad_qty, nested_order("WO-2")]
    integ = integration(erp, maps={"work_centres": {"PG-10": "saw-1", "PG-20": "drill-1"}})
    summary = sync(integ, sqlite_ledger)
    assert summary.released == ["WO-1", "WO-2"]
    assert any("row 2" in e and "not a JSON object" in e for e in summary.errors)
    assert any("row 3" in e and "qty" in e and "'lots'" in e for e in summary.errors)
    assert [w for w in summary.warnings if "unknown_work_centre" in w] == [
        "order WO-1: unknown_work_centre: ERP work centre 'PG-77' (order work centre) of order "
        "WO-1 is not in the work centre map; the raw value was kept"
    ]
    assert sqlite_ledger.get_order("WO-2", "plant1").routing[0].work_centre == "saw-1"
    assert sqlite_ledger.find_order("WO-BAD", "plant1") is None
    again = sync(integ, sqlite_ledger)
    assert again.warnings == [] and again.unchanged == ["WO-1", "WO-2"]


def test_a_page_that_is_not_json_refuses_the_full_plan_but_imports_the_rest(
    erp: ErpHttp, sqlite_ledger: Ledger
) -> None:
    erp.orders = [nested_order(f"WO-{i}") for i in range(1, 5)]
    integ = integration(erp, full_plan=True)
    assert sync(integ, sqlite_ledger).released == ["WO-1", "WO-2", "WO-3", "WO-4"]
    erp.garbage_pages = {2}
    summary = sync(integ, sqlite_ledger)
    assert summary.unchanged == ["WO-1", "WO-2"] and summary.cancelled == []
    assert any("not JSON" in e for e in summary.errors)
    assert any("full plan not applied" in w for w in summary.warnings)
    assert sqlite_ledger.get_order("WO-3", "plant1").state == OrderState.RELEASED


def test_basic_and_api_key_authentication_and_next_link_paging(
    erp: ErpHttp, sqlite_ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    erp.body = {"items": [nested_order("WO-1")], "links": {"next": None}}
    secret_file = tmp_path / "pw"
    secret_file.write_text("hunter2\n")
    erp.required_headers = {"Authorization": "Basic bWVzOmh1bnRlcjI="}  # mes:hunter2
    basic = integration(
        erp,
        inbound={
            "items_path": "items",
            "paging": {"mode": "next_link", "next_path": "links.next"},
            "auth": {"type": "basic", "username": "mes", "password_file": str(secret_file)},
        },
    )
    assert rest.sync(basic, sqlite_ledger).released == ["WO-1"]

    monkeypatch.setenv("ERP_KEY", "k-123")
    erp.required_headers = {"X-Erp-Key": "k-123"}
    keyed = integration(
        erp,
        inbound={
            "items_path": "items",
            "paging": None,
            "auth": {"type": "api_key", "header": "X-Erp-Key", "key_env": "ERP_KEY"},
        },
    )
    assert rest.sync(keyed, sqlite_ledger).unchanged == ["WO-1"]
    monkeypatch.setenv("ERP_KEY", "wrong")
    with pytest.raises(SourceUnavailable, match="credentials refused"):
        rest.sync(keyed, sqlite_ledger)


def test_tls_is_verified_by_default() -> None:
    integ = Integration.model_validate(
        {"name": "p", "mode": "B", "inbound": {"transport": "rest", "url": "https://erp/x"}}
    )
    assert isinstance(integ.inbound, rest.RestInbound) and integ.inbound.verify_tls
    with rest.make_client(integ.inbound) as client:
        assert client.timeout.read == 30


def test_while_the_service_is_down_the_floor_records_and_sync_resumes(
    erp: ErpHttp, sqlite_ledger: Ledger
) -> None:
    erp.orders = [nested_order("WO-1")]
    integ = integration(erp)
    assert sync(integ, sqlite_ledger).released == ["WO-1"]
    erp.stop()
    with pytest.raises(SourceUnavailable, match="plant1: the ERP source is unavailable"):
        sync(integ, sqlite_ledger)
    sqlite_ledger.execute(ReportQuantity("WO-1", "10", good=3, integration="plant1"), OPERATOR)
    erp.orders.append(nested_order("WO-2"))
    erp.start()  # same port
    assert sync(integ, sqlite_ledger).released == ["WO-2"]
    assert sqlite_ledger.get_order("WO-1", "plant1").state == OrderState.IN_PROGRESS
