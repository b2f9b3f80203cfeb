"""PostgreSQL unreachable: 503 (nothing half-written), then normal service, no event lost.

The shared PostgreSQL server is never stopped: the app reaches it through a TCP proxy that
the test stops (cutting every connection) and starts again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import Backend
from tests.e2e.conftest import CALLERS, Api, api_on
from tests.support.tcp_proxy import TcpProxy

OP10 = "/orders/WO-1/operations/10"


@pytest.fixture
def proxy(backend: Backend) -> Iterator[TcpProxy]:
    if backend.name != "postgres":
        pytest.skip("the store is unreachable only on a server (PostgreSQL)")
    p = TcpProxy(("127.0.0.1", 5432))
    p.start()
    try:
        yield p
    finally:
        p.stop()


def through(proxy: TcpProxy, backend: Backend) -> str:
    return backend.url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")


def eventually(
    call: Callable[[], httpx.Response], status: int, within: float = 20
) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        r = call()
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def quantity_events(api: Api) -> int:
    r = eventually(lambda: api.get("audrey", "/orders/WO-1/history", limit=1000), 200)
    return sum(1 for e in r.json()["entries"] if e["event"] == "QuantityReported")


def test_writes_get_503_while_postgres_is_unreachable_and_succeed_after_it_returns(
    proxy: TcpProxy, backend: Backend
) -> None:
    with api_on(through(proxy, backend), reopen_interval_seconds=0.2) as api:
        api.release()
        assert api.post("olga", f"{OP10}/quantities", {"good": 1}, key="k-1").status_code == 200

        proxy.stop()
        down = api.post("olga", f"{OP10}/quantities", {"good": 2}, key="k-2")
        assert down.status_code == 503, down.text
        assert down.headers["content-type"] == "application/problem+json"
        assert down.headers["Retry-After"]
        assert api.client.get("/health/ready").status_code == 503
        assert api.get("olga", "/orders/WO-1/status").status_code == 503
        assert api.client.get("/health/live").status_code == 200

        proxy.start()
        up = eventually(lambda: api.post("olga", f"{OP10}/quantities", {"good": 2}, key="k-2"), 200)
        assert up.status_code == 200, up.text
        again = api.post("olga", f"{OP10}/quantities", {"good": 2}, key="k-2")
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert quantity_events(api) == 2
        ready = eventually(lambda: api.client.get("/health/ready"), 200)
        assert ready.status_code == 200
        status = eventually(
            lambda: api.get(
                "olga", "/orders/WO-1/status", wait_for_position=again.json()["position"]
            ),
            200,
        )
        assert status.json()["good"] == "3"
        assert api.get("audrey", "/orders/WO-1/verification").json()["ok"] is True


def test_an_app_started_while_postgres_is_unreachable_serves_once_it_returns(
    proxy: TcpProxy, backend: Backend
) -> None:
    with api_on(backend.url) as seeded:  # tokens and an order, stored directly
        seeded.release()
        secrets = dict(seeded.secrets)
    proxy.stop()
    with api_on(through(proxy, backend), with_tokens=False, reopen_interval_seconds=0.2) as api:
        api.secrets = secrets
        assert api.client.get("/health/ready").status_code == 503
        assert api.post("olga", f"{OP10}/start", key="s-1").status_code == 503
        proxy.start()
        started = eventually(lambda: api.post("olga", f"{OP10}/start", key="s-1"), 200)
        assert started.status_code == 200, started.text
        assert eventually(lambda: api.client.get("/health/ready"), 200).status_code == 200
        assert set(secrets) == set(CALLERS)
