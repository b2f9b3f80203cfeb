"""The sync worker (one pass, long-running) and mode A order sniffing, against real servers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.config import IntegrationsConfig, parse_config
from adapters.inbound.sniff import W_ERP_UNREACHABLE, Sniffer
from adapters.inbound.sync import SyncSummary
from adapters.inbound.worker import Worker, check_integration, run_once
from adapters.settings import Settings, build_ledger
from domain import Actor, Ledger
from domain.commands import ReportQuantity
from tests.support.erp_http import NESTED_FIELDS, ErpHttp, nested_order

OPERATOR = Actor("op-7", "operator", "api")


@pytest.fixture
def erp() -> Iterator[ErpHttp]:
    server = ErpHttp(page_size=50).start()
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


def rest_integration(name: str, url: str, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "mode": "B",
        "inbound": {
            "transport": "rest",
            "url": url,
            "items_path": "data.orders",
            "timeout_seconds": 1,
            "poll_seconds": 1,
            "paging": {"mode": "page", "size_param": "size", "page_size": 50},
        },
        "fields": NESTED_FIELDS,
    }
    data.update(over)
    return data


def files_integration(tmp_path: Path) -> dict[str, Any]:
    return {
        "name": "files1",
        "mode": "B",
        "inbound": {
            "transport": "files",
            "inbox": str(tmp_path / "in"),
            "archive": str(tmp_path / "archive"),
            "error": str(tmp_path / "error"),
            "format": "csv",
            "settle_seconds": 0,
        },
        "fields": {"released_values": ["REL"]},
    }


def wait_for(predicate: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_one_pass_runs_every_integration_and_one_failure_stops_none(
    erp: ErpHttp, sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    erp.orders = [nested_order("WO-1"), nested_order("WO-2")]
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "inbound"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "plan.csv").write_bytes((fixtures / "plan.csv").read_bytes())
    config = parse_config(
        {
            "integrations": [
                rest_integration("down", "http://127.0.0.1:1/api/orders"),
                rest_integration("web", erp.url),
                files_integration(tmp_path),
            ]
        }
    )
    results = run_once(config, sqlite_ledger)
    assert list(results) == ["down", "web", "files1"]
    assert "down: the ERP source is unavailable" in results["down"].errors[0]
    assert results["web"].released == ["WO-1", "WO-2"] and results["web"].ok
    assert results["files1"].released == ["WO-1001", "WO-1002"]
    only = run_once(config, sqlite_ledger, "web")
    assert list(only) == ["web"] and only["web"].unchanged == ["WO-1", "WO-2"]


def test_the_worker_keeps_going_through_an_outage_and_resumes_by_itself(
    erp: ErpHttp, sqlite_ledger: Ledger
) -> None:
    erp.orders = [nested_order("WO-1")]
    config = parse_config({"integrations": [rest_integration("web", erp.url)]})
    passes: list[SyncSummary] = []
    worker = Worker(
        config, sqlite_ledger, backoff_first=0.05, backoff_max=0.2, on_pass=passes.append
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: sqlite_ledger.find_order("WO-1", "web") is not None)
        erp.stop()
        requests_before = len(erp.requests)
        time.sleep(1.5)  # at least one poll against the closed port, retried with backoff
        sqlite_ledger.execute(ReportQuantity("WO-1", "10", good=4, integration="web"), OPERATOR)
        erp.orders.append(nested_order("WO-2"))
        erp.start()
        wait_for(lambda: sqlite_ledger.find_order("WO-2", "web") is not None)
        assert len(erp.requests) > requests_before
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert passes[0].released == ["WO-1"]
    assert any(p.released == ["WO-2"] for p in passes)
    assert sqlite_ledger.get_order("WO-1", "web").state.value == "in_progress"


def sniffing(url: str, **over: Any) -> IntegrationsConfig:
    data = {
        "name": "sniff",
        "mode": "A",
        "inbound": {
            "transport": "rest",
            "url": url,
            "items_path": "running",
            "timeout_seconds": 1,
        },
        "fields": {"measuring_point": "station", "order_no": "order", "part_no": "article"},
        "maps": {"work_centres": {"PG-10": "PRESS-2", "PG-20": "LASER-1"}},
    }
    data.update(over)
    return parse_config({"integrations": [data]})


def test_mode_a_records_the_running_order_and_keeps_it_through_an_outage(
    erp: ErpHttp, ledger: Ledger
) -> None:
    erp.body = {
        "running": [
            {"station": "PG-10", "order": "500", "article": "P-500"},
            {"station": "PG-20", "order": "700", "article": "P-700"},
        ]
    }
    config = sniffing(erp.url)
    sniffer = Sniffer(config.integrations[0])
    first = sniffer.poll(ledger)
    assert first.changed == ["LASER-1: 700", "PRESS-2: 500"] and first.ok
    ws = ledger.get_workstation("PRESS-2")
    assert ws is not None and (ws.active_order_no, ws.active_part_no) == ("500", "P-500")
    assert sniffer.poll(ledger).unchanged == ["LASER-1: 700", "PRESS-2: 500"]

    erp.stop()
    down = sniffer.poll(ledger)
    assert down.warnings == [
        f"measuring point LASER-1: {W_ERP_UNREACHABLE}",
        f"measuring point PRESS-2: {W_ERP_UNREACHABLE}",
    ]
    assert sniffer.poll(ledger).warnings == []  # once per outage
    ws = ledger.get_workstation("PRESS-2")
    assert ws is not None and ws.active_order_no == "500" and ws.warnings == 1

    erp.body = {"running": [{"station": "PG-10", "order": "501", "article": "P-501"}]}
    erp.start()
    back = sniffer.poll(ledger)
    assert back.changed == ["LASER-1: (none)", "PRESS-2: 501"]
    laser = ledger.get_workstation("LASER-1")
    assert laser is not None and laser.active_order_no is None
    erp.stop()
    assert len(sniffer.poll(ledger).warnings) == 2  # a new outage warns again (mapped points)


def test_mode_a_rows_without_a_measuring_point_are_errors_and_the_check_lists_the_points(
    erp: ErpHttp, sqlite_ledger: Ledger
) -> None:
    erp.body = {
        "running": [
            {"station": "", "order": "1"},
            {"station": "PG-99", "order": "900"},
            {"station": "PG-10", "order": "500"},
        ]
    }
    config = sniffing(erp.url)
    summary = Worker(config, sqlite_ledger).run_once()["sniff"]
    assert summary.changed == ["PG-99: 900", "PRESS-2: 500"]
    assert summary.errors == ["row 1: station: is required"]
    check = check_integration(config.integrations[0])
    # Sniffing raises no mapping warning: an unmapped point passes through unchanged.
    assert check.uncovered() == []
    points = {v.value: (v.status, v.examples) for v in check.seen()}
    assert points["PG-99"] == ("passed_through", ["900"])
    assert points["PG-10"] == ("mapped", ["500"])


def test_mode_a_outage_warnings_close_when_the_erp_answers_again_with_the_same_order(
    erp: ErpHttp, ledger: Ledger
) -> None:
    from projections import ViewReader, ViewRunner

    erp.body = {"running": [{"station": "PG-10", "order": "500", "article": "P-500"}]}
    sniffer = Sniffer(sniffing(erp.url).integrations[0])
    sniffer.poll(ledger)
    erp.stop()
    sniffer.poll(ledger)
    runner, reader = ViewRunner(ledger), ViewReader.for_ledger(ledger)
    try:
        runner.setup()
        runner.catch_up()
        open_before = reader.warnings(True, workstation="PRESS-2")
        assert [w.code for w in open_before] == [W_ERP_UNREACHABLE]
        erp.start()
        back = sniffer.poll(ledger)
        assert back.unchanged == ["PRESS-2: 500"]  # the same order: no order change recorded
        ws = ledger.get_workstation("PRESS-2")
        assert ws is not None and ws.open_warnings == 0 and ws.warnings == 1
        runner.catch_up()
        assert reader.warnings(True, workstation="PRESS-2") == []
        before = ledger.position()
        sniffer.poll(ledger)
        assert ledger.position() == before  # nothing more to close: nothing recorded
    finally:
        reader.close()
        runner.close()
