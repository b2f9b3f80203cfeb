"""Floor writes through the real API process while PostgreSQL misbehaves (#11 items 1 and 2).

(a) Writes without an Idempotency-Key while another connection terminates the API's backends
    again and again: the commit of a write may land although its answer is lost. Every
    acknowledged write is recorded exactly once, none twice, none refused yet recorded.
(b) The database becomes unreachable (a TCP proxy in front of it is cut) under load: the
    requests already in flight are answered 200 or 503 store-unavailable with Retry-After
    within the command deadline, not when the database comes back.

Each request reports a distinct good quantity, so the store tells which request it recorded.
Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from adapters.settings import Settings, build_ledger
from domain import WorkOrder
from tests.conftest import PG_DSN
from tests.e2e.conftest import an_erp_order
from tests.faults.conftest import ApiServer, counts, wait_until
from tests.support.tcp_proxy import TcpProxy

ORDERS = ("WO-1", "WO-2", "WO-3", "WO-4")
CLIENTS = 8
KILL_EVERY = 0.02  # seconds between two rounds of terminations
DEADLINE = 5.0
# No request may take longer than this: four times the deadline (the store library alone
# retries a lost connection for 20 s and more, per member of a group commit).
CLIENT_TIMEOUT = 4 * DEADLINE


Answer = tuple[int, float, float, bool, bool]


class Load:
    """Client threads reporting distinct good quantities (1, 2, 3…) on the orders."""

    def __init__(self, server: ApiServer, key: Callable[[int], str | None] = lambda n: None):
        self.server = server
        self.key = key
        # n -> status, sent, answered, Retry-After given, 503 after the deadline (not "nothing
        # was recorded")
        self.answers: dict[int, Answer] = {}
        self.stop = threading.Event()
        self.details: list[str] = []  # the first few refusals, to show what went wrong
        self._next = iter(range(1, 10**9))
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(CLIENTS)]

    def _run(self) -> None:
        headers = self.server.headers("operator")
        with httpx.Client(base_url=self.server.url, timeout=CLIENT_TIMEOUT) as client:
            while not self.stop.is_set():
                with self._lock:
                    n = next(self._next)
                key = self.key(n)
                path = f"/orders/{ORDERS[n % len(ORDERS)]}/operations/10/quantities"
                t0 = time.monotonic()
                try:
                    r = client.post(
                        path,
                        json={"good": str(n)},
                        headers={**headers, **({"Idempotency-Key": key} if key else {})},
                    )
                    status, retry_after = r.status_code, "Retry-After" in r.headers
                    late = status == 503 and "deadline" in r.text
                    if status >= 400 and len(self.details) < 5:
                        self.details.append(f"{status} {r.text[:300]}")
                except httpx.TimeoutException:
                    status, retry_after, late = -1, False, False  # none within CLIENT_TIMEOUT
                except httpx.TransportError:
                    status, retry_after, late = -2, False, False
                self.answers[n] = (status, t0, time.monotonic(), retry_after, late)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(CLIENT_TIMEOUT + 10)


def recorded(url: str) -> Counter[int]:
    """How often each good quantity was recorded, read from the store itself."""
    ledger = build_ledger(Settings(database_url=url))  # type: ignore[arg-type]
    try:
        seen: Counter[int] = Counter()
        for no in ORDERS:
            for e in ledger.events.get(ledger.order_id(no)):
                if isinstance(e, WorkOrder.QuantityReported):
                    seen[int(e.good)] += 1
        return seen
    finally:
        ledger.close()


def release(server: ApiServer) -> None:
    for no in ORDERS:
        r = server.post("integration", "/erp/orders", an_erp_order(no, quantity="100000000"))
        assert r.status_code == 200, r.text


def tally(answers: dict[int, Answer], seen: Counter[int]) -> dict[str, Any]:
    acknowledged = {n for n, a in answers.items() if a[0] == 200}
    refused = {n for n, a in answers.items() if 400 <= a[0] < 500}
    unavailable = {n for n, a in answers.items() if a[0] == 503}
    late = {n for n in unavailable if answers[n][4]}
    return {
        "requests": len(answers),
        "acknowledged": len(acknowledged),
        "recorded": sum(1 for n in answers if seen[n] > 0),
        "duplicates": sum(1 for n in answers if seen[n] > 1),
        "lost": sum(1 for n in acknowledged if seen[n] == 0),
        "refused": len(refused),
        "refused_but_recorded": sum(1 for n in refused if seen[n] > 0),
        "unavailable_503": len(unavailable),
        "unavailable_after_deadline": len(late),
        "after_deadline_but_recorded": sum(1 for n in late if seen[n] > 0),
        "nothing_recorded_but_recorded": sum(1 for n in unavailable - late if seen[n] > 0),
        "no_answer": sum(1 for a in answers.values() if a[0] < 0),
        "other": sum(1 for a in answers.values() if a[0] not in (200, 503) and a[0] >= 500),
    }


def terminate_backends(app_name: str, stop: threading.Event, every: float) -> Iterator[int]:
    """Terminate the API's backends (by application_name) that are writing to the ledger,
    the moment when a commit may land while its answer is lost, until ``stop``."""
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        while not stop.wait(every):
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND state <> 'idle' AND ("
                " query ILIKE '%%ledger_events%%' AND query NOT ILIKE 'SELECT%%'"
                " OR query = 'COMMIT')",
                (app_name,),
            ).fetchall()
            yield len(rows)


def test_unkeyed_writes_under_terminated_connections_are_each_recorded_once(
    pg_url: str, api_server: Any
) -> None:
    app_name = f"flt-kill-{time.monotonic_ns() % 10**9}"
    server = api_server(pg_url, {"PGAPPNAME": app_name})
    release(server)
    stop, kills = threading.Event(), [0]

    def killer() -> None:
        for n in terminate_backends(app_name, stop, KILL_EVERY):
            kills[0] += n

    k = threading.Thread(target=killer)
    with Load(server) as load:
        k.start()
        time.sleep(15)
        stop.set()
        k.join(10)
    figures = tally(load.answers, recorded(pg_url))
    counts("unkeyed writes, backends terminated", terminated=kills[0], **figures)
    print(*load.details, sep="\n")
    assert kills[0] > 0
    assert figures["acknowledged"] > 0
    assert figures["duplicates"] == 0
    assert figures["lost"] == 0
    assert figures["refused_but_recorded"] == 0
    assert figures["nothing_recorded_but_recorded"] == 0  # a 503 that says so recorded nothing
    assert figures["no_answer"] == 0


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    p = TcpProxy(("127.0.0.1", 5432))
    p.start()
    try:
        yield p
    finally:
        p.stop()


def test_requests_in_flight_when_postgres_becomes_unreachable_are_answered_within_the_deadline(
    pg_url: str, api_server: Any, proxy: TcpProxy
) -> None:
    through = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    server = api_server(through, {"FLOORLEDGER_COMMAND_DEADLINE_SECONDS": str(DEADLINE)})
    release(server)
    with Load(server, key=lambda n: f"q-{n}" if n % 2 else None) as load:
        time.sleep(3)
        cut = time.monotonic()
        proxy.stop()
        time.sleep(DEADLINE + 3)
        load.stop.set()
        for t in load.threads:
            t.join(CLIENT_TIMEOUT + 10)
    proxy.start()
    wait_until(lambda: server.client.get("/health/ready").status_code == 200, 30, "ready again")
    answers = load.answers
    in_flight = {n: a for n, a in answers.items() if a[1] < cut < a[2]}
    worst = max((a[2] - cut for a in in_flight.values()), default=0.0)
    figures = tally(answers, recorded(pg_url))
    kinds = Counter(
        "200" if a[0] == 200 else "503+Retry-After" if a[0] == 503 and a[3] else str(a[0])
        for a in in_flight.values()
    )
    counts(
        "PostgreSQL cut under load",
        in_flight=len(in_flight),
        in_flight_answers=dict(kinds),
        worst_in_flight_latency_s=f"{worst:.2f}",
        deadline_s=DEADLINE,
        **figures,
    )
    assert in_flight, "no request was in flight when the database went away"
    assert set(kinds) <= {"200", "503+Retry-After"}, kinds
    assert figures["duplicates"] == 0
    assert figures["lost"] == 0
    assert figures["refused_but_recorded"] == 0
    assert figures["nothing_recorded_but_recorded"] == 0  # a 503 that says so recorded nothing
    assert Decimal(figures["acknowledged"]) > 0
