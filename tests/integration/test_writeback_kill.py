"""The pump is killed with SIGKILL at random points of a drain and restarted, many times;
every receiver ends with each message applied exactly once and in order per order."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.settings import Settings, build_ledger
from domain import Ledger
from tests.conftest import PG_DSN, pg_schema, require_server
from tests.support.writeback import (
    config,
    expected_keys,
    in_order_per_order,
    work_order,
    write_config,
)
from tests.support.writeback_receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 120
KILLS = 10


def _floor(ledger: Ledger, n: int = ORDERS) -> list[str]:
    for i in range(n):
        work_order(ledger, f"K-{i:04d}", t=i)
    return expected_keys(ledger, "erp-out")


def _pump(db_url: str, cfg_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = open(cfg_path.with_suffix(".pump.log"), "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "writeback", "run", "--poll", "0.05"],
        cwd=ROOT,
        env={
            **os.environ,
            **env,
            "FLOORLEDGER_DATABASE_URL": db_url,
            "FLOORLEDGER_CONFIG": str(cfg_path),
            "PYTHONPATH": str(ROOT),
            "PYTHONFAULTHANDLER": "1",  # SIGABRT prints every thread's stack to the log
        },
        stdout=log,
        stderr=log,
    )


def _stop(proc: subprocess.Popen[bytes], cfg_path: Path) -> None:
    """SIGTERM, as an operator stops the pump; one that does not stop shows where it hangs."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=10)
        tail = cfg_path.with_suffix(".pump.log").read_text(errors="replace")[-6000:]
        pytest.fail(f"the pump did not stop within 30 s of SIGTERM; its log ends:\n{tail}")


def _kill_and_restart(
    db_url: str, cfg_path: Path, env: dict[str, str], done: Callable[[], int], total: int
) -> list[int]:
    """SIGKILL the pump at random points, KILLS times, then let one run finish the drain."""
    rng = random.Random(int(os.environ.get("WB_KILL_SEED", "7")))
    seen: list[int] = []
    for _ in range(KILLS):
        before = done()
        proc = _pump(db_url, cfg_path, env)
        # Kill at a random moment once this run has started delivering, so that kills land
        # mid-drain however fast the machine is.
        deadline = time.monotonic() + 20
        while before < total and done() == before and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        seen.append(done())
    proc = _pump(db_url, cfg_path, env)
    try:
        deadline = time.monotonic() + 120  # generous: a loaded CI machine is slow, not wrong
        while done() < total and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        _stop(proc, cfg_path)
    return seen


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def test_rest_receiver_applies_everything_once_in_order_despite_sigkills(
    tmp_path: Path, sqlite_url: str
) -> None:
    receiver = Receiver()
    receiver.delay = 0.004
    receiver.start()
    try:
        cfg = config(
            tmp_path,
            [
                {
                    "name": "erp-out",
                    "transport": "rest",
                    "url": receiver.url,
                    "batch_url": receiver.batch_url,
                    "batch_size": 10,
                    "retry": {"initial_seconds": 0.05, "max_seconds": 0.5},
                }
            ],
            scan_size=60,
        )
        ledger = build_ledger(Settings(database_url=sqlite_url))  # type: ignore[arg-type]
        try:
            expected = _floor(ledger)
        finally:
            ledger.close()
        cfg_path = write_config(tmp_path / "plant.toml", cfg)
        seen = _kill_and_restart(
            sqlite_url, cfg_path, {}, lambda: len(receiver.applied), len(expected)
        )
        assert sorted(receiver.applied) == sorted(expected)
        assert not receiver.out_of_order
        assert in_order_per_order(list(receiver.applied))
        print("applied after each kill:", seen, "of", len(expected))
        assert any(0 < s < len(expected) for s in seen), f"no kill landed mid-drain: {seen}"
    finally:
        receiver.stop()


@pytest.fixture
def pg_ledger_url() -> Iterator[str]:
    with pg_schema("wbk_") as schema:
        yield f"{PG_DSN}?schema={schema}"


def test_postgres_interface_table_gets_every_row_once_in_order_despite_sigkills(
    tmp_path: Path, pg_ledger_url: str
) -> None:
    import sqlalchemy as sa

    table = "wb_kill_" + uuid.uuid4().hex[:8]
    sql_url = PG_DSN.replace("postgresql://", "postgresql+psycopg://")
    engine = sa.create_engine(sql_url)
    cfg = config(
        tmp_path,
        [
            {
                "name": "erp-out",
                "transport": "sql",
                "url_env": "WB_TEST_SQL_URL",
                "table": table,
                "batch_size": 10,
                "retry": {"initial_seconds": 0.05, "max_seconds": 0.5},
            }
        ],
        scan_size=40,
    )

    def rows() -> int:
        try:
            with engine.connect() as conn:
                return int(conn.scalar(sa.text(f"SELECT COUNT(*) FROM {table}")) or 0)
        except sa.exc.ProgrammingError:
            return 0

    try:
        ledger = build_ledger(Settings(database_url=pg_ledger_url))  # type: ignore[arg-type]
        try:
            expected = _floor(ledger, 100)
        finally:
            ledger.close()
        cfg_path = write_config(tmp_path / "plant.toml", cfg)
        seen = _kill_and_restart(
            pg_ledger_url, cfg_path, {"WB_TEST_SQL_URL": sql_url}, rows, len(expected)
        )
        with engine.connect() as conn:
            keys = list(conn.scalars(sa.text(f"SELECT idempotency_key FROM {table} ORDER BY id")))
        assert sorted(keys) == sorted(expected)
        assert in_order_per_order(keys)
        print("applied after each kill:", seen, "of", len(expected))
        assert any(0 < s < len(expected) for s in seen), f"no kill landed mid-drain: {seen}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def test_rabbitmq_consumer_applies_everything_once_in_order_despite_sigkills(
    tmp_path: Path, sqlite_url: str
) -> None:
    import threading

    import pika

    require_server("RabbitMQ", "127.0.0.1", 5672)
    amqp_url = os.environ.get("FLOORLEDGER_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/%2F")
    queue = "fl_wbk_" + uuid.uuid4().hex[:8]
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    conn.channel().queue_declare(queue, durable=True)
    applied: dict[str, None] = {}  # a consumer that honours the key: first delivery applies
    stop = threading.Event()

    def consume() -> None:
        c = pika.BlockingConnection(pika.URLParameters(amqp_url))
        ch = c.channel()
        for method, props, _body in ch.consume(queue, inactivity_timeout=0.1):
            if method is not None:
                applied.setdefault(props.message_id, None)
                ch.basic_ack(method.delivery_tag)
            if stop.is_set():
                break
        ch.cancel()
        c.close()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    cfg = config(
        tmp_path,
        [
            {
                "name": "erp-out",
                "transport": "amqp",
                "url_env": "WB_TEST_AMQP_URL",
                "routing_key": queue,
                "batch_size": 10,
                "retry": {"initial_seconds": 0.05, "max_seconds": 0.5},
            }
        ],
        scan_size=40,
    )
    try:
        ledger = build_ledger(Settings(database_url=sqlite_url))  # type: ignore[arg-type]
        try:
            expected = _floor(ledger, 100)
        finally:
            ledger.close()
        cfg_path = write_config(tmp_path / "plant.toml", cfg)
        seen = _kill_and_restart(
            sqlite_url, cfg_path, {"WB_TEST_AMQP_URL": amqp_url}, lambda: len(applied),
            len(expected),
        )  # fmt: skip
        print("applied after each kill:", seen, "of", len(expected))
        assert sorted(applied) == sorted(expected)
        assert in_order_per_order(list(applied))
        assert any(0 < s < len(expected) for s in seen), f"no kill landed mid-drain: {seen}"
    finally:
        stop.set()
        consumer.join(5)
        conn.channel().queue_delete(queue)
        conn.close()
