"""Writeback transports on the real services: PostgreSQL and MariaDB tables, files, RabbitMQ."""

from __future__ import annotations

import csv
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.settings import Settings, build_ledger
from adapters.writeback.files import performance_schema
from adapters.writeback.pump import Pump
from adapters.writeback.service import WritebackService
from domain import Ledger
from tests.conftest import PG_DSN, require_server
from tests.support.writeback import (
    SUPERVISOR,
    config,
    expected_keys,
    in_order_per_order,
    work_order,
)

MARIADB_URL = os.environ.get("FLOORLEDGER_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")
AMQP_URL = os.environ.get("FLOORLEDGER_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/%2F")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    app = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}"))  # type: ignore[arg-type]
    try:
        yield app
    finally:
        app.close()


# ---------------------------------------------------------------------------- SQL


@pytest.fixture(params=["postgres", "mariadb"])
def sql_url(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        require_server("PostgreSQL", "127.0.0.1", 5432)
        return PG_DSN.replace("postgresql://", "postgresql+psycopg://")
    require_server("MariaDB", "127.0.0.1", 3306)
    return MARIADB_URL


def test_interface_table_replay_inserts_nothing_twice_and_a_check_refusal_parks(
    tmp_path: Path, ledger: Ledger, sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = "wb_t_" + uuid.uuid4().hex[:8]
    monkeypatch.setenv("WB_SQL_URL", sql_url)
    engine = sa.create_engine(sql_url)
    dest = {"name": "erp-sql", "transport": "sql", "url_env": "WB_SQL_URL", "table": table,
            "batch_size": 7, "retry": {"attempts": 1}}  # fmt: skip
    cfg = config(tmp_path, [dest])
    pump, svc = Pump(ledger, cfg), WritebackService(ledger, cfg)
    try:
        work_order(ledger, "S-1")
        pump.run_once()  # creates the table
        with engine.begin() as conn:  # the ERP validates: order S-BAD is refused
            conn.execute(sa.text(f"ALTER TABLE {table} ADD CONSTRAINT ck_{table} "
                                 "CHECK (order_no <> 'S-BAD')"))  # fmt: skip
        work_order(ledger, "S-BAD", t=1)
        work_order(ledger, "S-2", t=2)
        pump.run_once()
        (parked,) = svc.status("erp-sql")[0].parked
        assert parked.order_no == "S-BAD" and parked.held == 9
        svc.replay("erp-sql", 1)
        pump.run_once()
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    f"SELECT idempotency_key, order_no, good, unit, scrap_reason, operation "
                    f"FROM {table} ORDER BY id"
                )
            ).all()
        keys = [r[0] for r in rows]
        assert len(keys) == len(set(keys)) == 20
        assert in_order_per_order(keys)
        assert {r[1] for r in rows} == {"S-1", "S-2"}
        first_result = next(r for r in rows if r[2] is not None)
        assert (first_result[3], first_result[4], first_result[5]) == ("ST", "SCR-01", "OP-0010")
        with engine.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}"))
        svc.retry("erp-sql", "S-BAD", SUPERVISOR)
        pump.run_once()
        with engine.connect() as conn:
            keys = list(conn.scalars(sa.text(f"SELECT idempotency_key FROM {table} ORDER BY id")))
        assert sorted(keys) == sorted(expected_keys(ledger, "erp-sql"))
        assert in_order_per_order(keys)
    finally:
        pump.close()
        svc.close()
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def test_interface_table_down_is_transient(
    tmp_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WB_SQL_DOWN", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    dest = {"name": "erp-sql", "transport": "sql", "url_env": "WB_SQL_DOWN",
            "retry": {"attempts": 1}}  # fmt: skip
    cfg = config(tmp_path, [dest])
    pump, svc = Pump(ledger, cfg), WritebackService(ledger, cfg)
    try:
        work_order(ledger, "S-1")
        assert "Connection refused" in str(pump.run_once()["erp-sql"])
        st = svc.status("erp-sql")[0]
        assert st.backlog == 10 and st.parked == [] and st.last_error
    finally:
        pump.close()
        svc.close()


# ---------------------------------------------------------------------------- files


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "b2mml"])
def test_files_are_written_atomically_with_every_key(
    tmp_path: Path, ledger: Ledger, fmt: str
) -> None:
    outbox = tmp_path / "outbox"
    dest = {"name": "erp-files", "transport": "files", "outbox": str(outbox), "format": fmt,
            "batch_size": 8}  # fmt: skip
    cfg = config(tmp_path, [dest])
    pump = Pump(ledger, cfg)
    try:
        work_order(ledger, "F-1")
        work_order(ledger, "F-2", t=1)
        pump.run_once()
    finally:
        pump.close()
    files = sorted(outbox.iterdir())
    assert files and not [f for f in files if f.name.startswith(".")]  # no temporary left
    keys: list[str] = []
    for f in files:
        keys.extend(_keys(f, fmt))
    assert keys == expected_keys(ledger, "erp-files")


def _keys(path: Path, fmt: str) -> list[str]:
    if fmt == "csv":
        with path.open(newline="") as f:
            return [r["idempotency_key"] for r in csv.DictReader(f)]
    if fmt == "xlsx":
        from openpyxl import load_workbook

        ws = load_workbook(path, read_only=True).active
        rows = list(ws.iter_rows(values_only=True))
        col = rows[0].index("idempotency_key")
        return [str(r[col]) for r in rows[1:]]
    from lxml import etree

    performance_schema().assertValid(etree.parse(str(path)))

    ns = {"b": "http://www.mesa.org/xml/B2MML-V0600"}
    return etree.parse(str(path)).xpath("/b:ProductionPerformance/b:ProductionResponse/b:ID/text()",
                                        namespaces=ns)  # fmt: skip


# ---------------------------------------------------------------------------- AMQP


def _drain_queue(queue: str) -> list[tuple[str, dict[str, Any]]]:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        ch = conn.channel()
        out = []
        while True:
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            assert props.delivery_mode == 2
            out.append((props.message_id, json.loads(body)))
    finally:
        conn.close()


def test_amqp_publishes_persistent_confirmed_messages_and_unroutable_parks(
    tmp_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pika

    require_server("RabbitMQ", "127.0.0.1", 5672)
    queue = "fl_wb_" + uuid.uuid4().hex[:8]
    monkeypatch.setenv("WB_AMQP_URL", AMQP_URL)
    dest = {"name": "erp-mq", "transport": "amqp", "url_env": "WB_AMQP_URL",
            "routing_key": queue, "declare_queue": queue, "retry": {"attempts": 1}}  # fmt: skip
    cfg = config(tmp_path, [dest])
    pump, svc = Pump(ledger, cfg), WritebackService(ledger, cfg)
    try:
        work_order(ledger, "M-1")
        work_order(ledger, "M-2", t=1)
        pump.run_once()
        svc.replay("erp-mq", 1)
        pump.run_once()
        got = _drain_queue(queue)
        assert len(got) == 40  # at-least-once: the replay published again
        first: dict[str, dict[str, Any]] = {}
        for key, body in got:
            first.setdefault(key, body)
        assert list(first) == expected_keys(ledger, "erp-mq")
        assert in_order_per_order(list(first))
    finally:
        pump.close()
        svc.close()
        conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        conn.channel().queue_delete(queue)
        conn.close()
    # a routing key nothing is bound to: the broker returns the message, the order parks
    cfg = config(tmp_path, [{**dest, "declare_queue": None, "routing_key": f"nowhere-{queue}"}])
    pump2, svc2 = Pump(ledger, cfg), WritebackService(ledger, cfg)
    try:
        svc2.replay("erp-mq", 1)
        pump2.run_once()
        parked = svc2.status("erp-mq")[0].parked
        assert {p.order_no for p in parked} == {"M-1", "M-2"}
        assert "unroutable" in parked[0].reason
    finally:
        pump2.close()
        svc2.close()


def test_a_started_operation_is_written_as_a_segment_start_in_b2mml(
    tmp_path: Path, ledger: Ledger
) -> None:
    from lxml import etree

    outbox = tmp_path / "outbox"
    dest = {"name": "erp-files", "transport": "files", "outbox": str(outbox), "format": "b2mml"}
    pump = Pump(ledger, config(tmp_path, [dest]))
    try:
        work_order(ledger, "S-1")
        pump.run_once()
    finally:
        pump.close()
    ns = {"b": "http://www.mesa.org/xml/B2MML-V0600"}
    segments = [
        s
        for f in sorted(outbox.iterdir())
        for s in etree.parse(str(f)).xpath("//b:SegmentResponse", namespaces=ns)
    ]
    starts = [
        s for s in segments
        if s.xpath("b:ProductionData[b:ID='event']/b:Value/b:ValueString/text()", namespaces=ns)
        == ["OperationStarted"]
    ]  # fmt: skip
    assert starts
    for s in starts:
        assert s.xpath("b:ActualStartTime", namespaces=ns)
        assert not s.xpath("b:ActualEndTime", namespaces=ns)
