"""The AMQP transport against the real RabbitMQ, with a real Ledger."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pytest

from adapters.config import Integration
from adapters.inbound import amqp
from adapters.inbound.sync import SyncSummary
from adapters.mapping import MappingCheck
from adapters.settings import Settings, build_ledger
from domain import Actor, Ledger, OrderState
from domain.commands import ReportQuantity, StartOperation
from tests.conftest import require_server
from tests.support.erp_http import NESTED_FIELDS, nested_order

OPERATOR = Actor("op-7", "operator", "api")
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inbound"


class Broker:
    """A publisher/inspector connection and the test's uniquely named queues."""

    def __init__(self) -> None:
        self.queue = "fl.test." + uuid.uuid4().hex[:10]
        self.dead = self.queue + ".dead"
        self.conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        self.channel = self.conn.channel()
        self.channel.queue_declare(self.queue, durable=True)

    def publish(self, body: Any, **headers: Any) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.channel.basic_publish(
            "", self.queue, data, pika.BasicProperties(headers=headers or None, delivery_mode=2)
        )

    def count(self, queue: str) -> int:
        return int(self.channel.queue_declare(queue, durable=True).method.message_count)

    def get(self, queue: str) -> tuple[Any, bytes]:
        method, props, body = self.channel.basic_get(queue, auto_ack=True)
        assert method is not None, f"no message in {queue}"
        return props, body

    def close(self) -> None:
        for q in (self.queue, self.dead):
            self.channel.queue_delete(q)
        self.conn.close()


@pytest.fixture
def broker() -> Iterator[Broker]:
    require_server("RabbitMQ", "127.0.0.1", 5672)
    b = Broker()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}"))  # type: ignore[arg-type]
    try:
        yield ledger
    finally:
        ledger.close()


def integration(
    broker: Broker, monkeypatch: pytest.MonkeyPatch, fmt: str = "json", **over: Any
) -> Integration:
    monkeypatch.setenv("AMQP_URL", AMQP_URL)
    data: dict[str, Any] = {
        "name": "plant1",
        "mode": "B",
        "inbound": {
            "transport": "amqp",
            "url_env": "AMQP_URL",
            "queue": broker.queue,
            "format": fmt,
        },
    }
    if fmt == "json":
        data["fields"] = {**NESTED_FIELDS, "cancelled_values": ["cancelled"]}
    data.update(over)
    return Integration.model_validate(data)


def drain(integ: Integration, ledger: Ledger) -> SyncSummary:
    source = amqp.AmqpSource(integ, ledger)
    try:
        return source.drain()
    finally:
        source.close()


def test_order_messages_are_applied_then_acknowledged(
    broker: Broker, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    integ = integration(broker, monkeypatch)
    broker.publish(nested_order("WO-1"))
    broker.publish([nested_order("WO-2"), nested_order("WO-3"), nested_order("WO-4")])
    broker.publish(nested_order("WO-1"))  # the same again: nothing new
    first = drain(integ, ledger)
    assert first.released == ["WO-1", "WO-2", "WO-3", "WO-4"] and first.unchanged == ["WO-1"]
    assert broker.count(broker.queue) == 0 and broker.count(broker.dead) == 0

    ledger.execute(StartOperation("WO-2", "10", integration="plant1"), OPERATOR)
    ledger.execute(StartOperation("WO-4", "10", integration="plant1"), OPERATOR)
    broker.publish(nested_order("WO-1", qty=12))
    broker.publish(nested_order("WO-2", qty=12))
    broker.publish(nested_order("WO-3", status="cancelled"))
    broker.publish(nested_order("WO-4", status="cancelled"))
    broker.publish(nested_order("WO-5", status="planned"))
    second = drain(integ, ledger)
    assert second.changed == ["WO-1"] and second.cancelled == ["WO-3"]
    assert second.conflicts == ["WO-2", "WO-4"] and second.not_released == ["WO-5"]
    assert ledger.get_order("WO-3", "plant1").state == OrderState.CANCELLED
    assert ledger.get_order("WO-4", "plant1").state == OrderState.IN_PROGRESS


def test_b2mml_messages_are_read_like_b2mml_files(
    broker: Broker, sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    integ = integration(broker, monkeypatch, fmt="b2mml")
    broker.publish((FIXTURES / "production_schedule.xml").read_bytes())
    summary = drain(integ, sqlite_ledger)
    assert summary.released and summary.ok
    assert broker.count(broker.queue) == 0


def test_poison_messages_go_to_the_dead_letter_queue_with_the_reason(
    broker: Broker, sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    integ = integration(broker, monkeypatch, maps={"work_centres": {"PG-10": "saw-1"}})
    bad = nested_order("WO-BAD")
    bad["qty"] = -5
    broker.publish(b"{not json", source="erp-7")
    broker.publish([nested_order("WO-1"), bad])
    broker.publish(nested_order("WO-2", wc="PG-55"))  # unknown reference: a warning, not poison
    broker.publish((FIXTURES / "xml_bomb.xml").read_bytes())
    summary = drain(integ, sqlite_ledger)
    assert summary.released == ["WO-1", "WO-2"]
    assert any("unknown_work_centre" in w for w in summary.warnings)
    assert broker.count(broker.queue) == 0 and broker.count(broker.dead) == 3
    props, body = broker.get(broker.dead)
    assert body == b"{not json"
    assert "is not JSON" in props.headers[amqp.REASON_HEADER]
    assert props.headers["source"] == "erp-7"
    assert props.headers[amqp.QUEUE_HEADER] == broker.queue
    props, _ = broker.get(broker.dead)
    assert "WO-BAD" in props.headers[amqp.REASON_HEADER]
    props, _ = broker.get(broker.dead)
    assert "is not JSON" in props.headers[amqp.REASON_HEADER]  # XML on a JSON queue
    assert sqlite_ledger.find_order("WO-BAD", "plant1") is None


def test_a_message_is_not_acknowledged_when_the_ledger_fails(
    broker: Broker, sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    integ = integration(broker, monkeypatch)
    broker.publish(nested_order("WO-1"))

    def store_down(*args: Any, **kwargs: Any) -> Any:
        raise OSError("the event store is unreachable")

    monkeypatch.setattr(sqlite_ledger, "save", store_down)
    with pytest.raises(OSError):
        drain(integ, sqlite_ledger)
    assert broker.count(broker.queue) == 1 and broker.count(broker.dead) == 0
    monkeypatch.undo()
    monkeypatch.setenv("AMQP_URL", AMQP_URL)
    assert drain(integ, sqlite_ledger).released == ["WO-1"]
    assert broker.count(broker.queue) == 0


def wait_for(predicate: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_the_consumer_survives_a_dropped_connection_and_resumes(
    broker: Broker, sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.config import IntegrationsConfig
    from adapters.inbound.worker import Worker

    integ = integration(broker, monkeypatch)
    seen: list[SyncSummary] = []
    worker = Worker(
        IntegrationsConfig(integrations=[integ]),
        sqlite_ledger,
        backoff_first=0.1,
        backoff_max=0.5,
        on_pass=seen.append,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        broker.publish(nested_order("WO-1"))
        wait_for(lambda: sqlite_ledger.find_order("WO-1", "plant1") is not None)
        # Drop the consumer's TCP connection from the client side.
        source = worker.sources["plant1"]
        assert source.connection is not None
        first_connection = source.connection
        sock = first_connection._impl._transport._sock  # type: ignore[union-attr]
        sock.shutdown(socket.SHUT_RDWR)
        sqlite_ledger.execute(ReportQuantity("WO-1", "10", good=1, integration="plant1"), OPERATOR)
        broker.publish(nested_order("WO-2"))
        wait_for(lambda: sqlite_ledger.find_order("WO-2", "plant1") is not None)
        assert source.connection is not first_connection
        wait_for(lambda: broker.count(broker.queue) == 0)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert [s.released for s in seen if s.released] == [["WO-1"], ["WO-2"]]


def test_the_mapping_check_peeks_at_messages_and_leaves_them_queued(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    integ = integration(broker, monkeypatch, maps={"work_centres": {"PG-20": "drill-1"}})
    broker.publish(nested_order("WO-1"))
    broker.publish(nested_order("WO-2"))
    check = MappingCheck(integ.maps)
    assert amqp.peek(integ, check) == 2
    uncovered = [(u.value, u.count, u.examples) for u in check.uncovered()]
    assert ("PG-10", 4, ("WO-1", "WO-2")) in uncovered  # order and first operation
    assert "PG-20" not in {value for value, _, _ in uncovered}
    wait_for(lambda: broker.count(broker.queue) == 2, timeout=5)
